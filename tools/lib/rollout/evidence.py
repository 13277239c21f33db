"""The rollout's evidence: what one partition's rollout did, recorded, rendered and held to its schema.

Per partition a JSON file (schema: ``docs/evidence.schema.json``), a Markdown report
for the sign-off table and a shareable one for Postmark's compliance reply, under
the evidence folder. Every file goes through the output sink's writer, so nothing
written holds the token, and every value in a report is inert text.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from instances.registry import PartitionConfig
from tools.lib.clock import REAL, Clock
from tools.lib.output import markdown_text, write_file
from tools.lib.targets import target_of

REPO = Path(__file__).resolve().parents[3]
EVIDENCE_SCHEMA = REPO / "docs" / "evidence.schema.json"
EVIDENCE_SCHEMA_VERSION = 2  # docs/evidence.schema.json's "schema_version": raise both when a field changes meaning
# How a partition's rollout ended: every step done and verify passed; a step failed; a guard refused (drift);
# a signal stopped it (Ctrl-C, SIGTERM), in a step or between two.
OUTCOMES = ("verified", "failed", "refused", "interrupted", "terminated")
# A child's journal entries in these states are changes that last (tools.lib.journal): executed, kept, left, unsure.
LASTING = ("made", "settled", "kept", "left", "unsure", "observed")  # journal states that outlast a run


@dataclass
class Record:
    """What one partition's rollout did, as written to its evidence files."""

    target: dict[str, str]  # tools.lib.targets.target_of
    outcome: str = "failed"  # one of OUTCOMES; set when the partition's rollout ends
    steps: list[dict] = field(default_factory=list)
    plan: dict = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)
    preflight: list[dict] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    gates: list[dict] = field(default_factory=list)
    verified: bool = False
    # From the deploy step's own --json (``deployed``), never from the plan or the stack.
    change_set: str = ""
    executed: bool | None = False
    changes_deployed: list[dict] = field(default_factory=list)
    adopted: dict = field(default_factory=dict)  # what the deploy step adopted of what a destroy retained

    @classmethod
    def of(cls, config: PartitionConfig) -> Record:
        """An empty record for ``config``."""
        return cls(target_of(config))

    @property
    def partition(self) -> str:
        return self.target["partition"]

    @property
    def stack(self) -> str:
        return self.target["stack"]

    def take(self, step: str, document: dict) -> None:
        """What a step's ``--json`` document says, into the record: pre-flight's and verify's rows, the plan, what
        the deploy did. Taken however the step ended (failed, stopped): the evidence says what each step said."""
        if step == "pre-flight":
            self.preflight = list(document.get("checks") or [])
        elif step == "plan":
            self.plan = document
        elif step == "deploy":
            self.deployed(document)
        elif step == "verify":
            self.checks = list(document.get("checks") or [])

    def deployed(self, document: dict) -> None:
        """What the deploy step says it did (its ``--json`` document): the change set it executed and its changes.

        ``executed`` is deploy.py's own answer when its document has one (true, false, or
        null: stopped mid-call, it cannot tell); otherwise it is read from the journal in
        the document: the entry of its change set is settled (executed), unsure (stopped
        while executing: cannot tell) or anything else (not executed). A step that printed
        no document (killed) cannot tell either.
        """
        change_set = str(document.get("change_set") or "")
        if "executed" in document:
            executed = document["executed"] if document["executed"] in (True, False) else None
        elif not document:
            executed = None
        else:
            states = [
                e.get("state") for e in document.get("journal") or [] if e.get("what") == f"change set {change_set}"
            ]
            executed = (
                False if not change_set else True if "settled" in states else None if "unsure" in states else False
            )
        if executed is True and not change_set:
            executed = None  # executed, it says, but not which: not a fact the evidence can state
        self.executed = executed
        self.change_set = "" if executed is False else change_set
        self.changes_deployed = [] if executed is False else list(document.get("changes") or [])
        adoption = document.get("adoption") or {}
        if adoption.get("imported") is True:
            self.adopted = {key: adoption[key] for key in ("zone", "webhook_secret") if key in adoption}


class Evidence:
    """Where one rollout's evidence goes, and what every file of it says about the run."""

    def __init__(self, folder: Path, *, rehearsal: str = "", commit: str = "unknown", clock: Clock = REAL) -> None:
        self.folder = folder
        self.rehearsal = rehearsal  # the AWS endpoint when it was not AWS; "" for a real rollout
        self.commit = commit
        self.clock = clock

    def document(self, record: Record) -> dict:
        """The partition's JSON evidence (``docs/evidence.schema.json``)."""
        return {
            "schema_version": EVIDENCE_SCHEMA_VERSION,
            "target": record.target,
            "outcome": record.outcome,
            "verified": record.verified,
            "rehearsal": self.rehearsal,
            "change_set": record.change_set,
            "executed": record.executed,
            "changes_deployed": record.changes_deployed,
            "adopted": record.adopted,
            "plan": record.plan,
            "exports": record.exports,
            "preflight": record.preflight,
            "checks": record.checks,
            "gates": record.gates,
            "steps": record.steps,
            "tool": {"version": tool_version(), "commit": self.commit},
            "written_at": f"{self.clock.now():%Y-%m-%dT%H:%M:%SZ}",
        }

    def write(self, document: dict) -> None:
        """The JSON record, its Markdown report and the shareable one; OSError when the folder cannot take them."""
        stack = document["target"]["stack"]
        self.folder.mkdir(parents=True, exist_ok=True)
        write_file(self.folder / f"{stack}.json", json.dumps(document, indent=2) + "\n")
        write_file(self.folder / f"{stack}.md", markdown(document))
        write_file(self.folder / f"{stack}.shareable.md", markdown(document, shareable=True))


def rehearsal_endpoint(env: Mapping[str, str]) -> str:
    """Where AWS was, when it was not AWS (the rehearsal world): "" for a real rollout."""
    endpoint = env.get("AWS_ENDPOINT_URL", "")
    host = (urlsplit(endpoint).hostname or "").lower()
    return endpoint if endpoint and not host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws")) else ""


def markdown(document: dict, *, shareable: bool = False) -> str:
    """The evidence as a report fit for the sign-off table (``shareable``: for Postmark's compliance reply).

    Every statement comes from what the run did: how it ended, the change set the deploy
    step says it executed, the changes AWS listed for it (or why there were none),
    verify's rows, the gates. The shareable variant leaves out the account ID and every
    ARN. Every value is inert text (``markdown_text``): DNS answers, Postmark's replies,
    a child's last line and gate notes are not markup.
    """
    md = markdown_text
    target = document["target"]
    checks = document["checks"]
    failing = [c.get("id") for c in checks if c.get("status") != "PASS"]
    passed = bool(document["verified"] and checks and not failing)
    lines = []
    if document.get("rehearsal"):
        lines += [f"**REHEARSAL** (AWS was {md(document['rehearsal'])}): not evidence of a real deployment.", ""]
    lines += [f"# {md(target['stack'])}: rollout evidence", ""]
    where = f"region {md(target['region'])}"
    where = where if shareable else f"account {md(target['account'])}, {where}"
    lines.append(f"- Partition: {md(target['partition'])} ({md(target['infrastructure'])}), {where}")
    lines.append(f"- Outcome: {md(document['outcome'])}")
    verdict = "yes, every check PASS" if passed else (f"NO ({', '.join(map(md, failing))})" if failing else "NO")
    lines.append(f"- Verified: {verdict}")
    why_none = _why_no_change_set(document["steps"])
    if not shareable:
        change_set, executed = document["change_set"], document["executed"]
        if executed is None:
            said = (
                f"{md(change_set) if change_set else 'unknown'}: NOT KNOWN whether it was executed (the deploy step "
                "was stopped while executing it); see the stack's events"
            )
        else:
            said = md(change_set) if executed else f"(none: {why_none})"
        lines.append(f"- Change set executed: {said}")
    adopted = document.get("adopted") or {}
    if adopted:
        kept = []
        if "zone" in adopted:
            zone = adopted["zone"]
            kept.append(
                f"hosted zone {md(zone['id'])} with its name servers ({', '.join(map(md, zone['name_servers']))}) "
                "and records"
            )
        if "webhook_secret" in adopted:
            kept.append("the webhook secret" if shareable else f"webhook secret {md(adopted['webhook_secret']['arn'])}")
        lines.append(f"- Adopted (retained by an earlier stack, kept): {'; '.join(kept)}")
    lines += [f"- Tool: {md(document['tool']['version'])} at commit {md(document['tool']['commit'])}",
              f"- Written: {md(document['written_at'])}", "", "## Verification", ""]  # fmt: skip
    if checks:
        lines += ["| ID | check | result | detail |", "|---|---|---|---|"]
        for check in checks:
            cells = (check.get("id"), check.get("check"), check.get("status"), check.get("detail", ""))
            lines.append("| " + " | ".join(md(c) for c in cells) + " |")
    else:
        lines.append("- no verification result (the run stopped before verify answered)")
    gates = [
        f"- {md(g['gate'])}: by {md(g['by'])} at {md(g['at'])} ({md(g.get('note') or 'no note')})"
        for g in document["gates"]
    ]
    lines += ["", "## Gates", ""] + (gates or ["- none required"])
    if not shareable:
        exports = [f"- {md(k)} = {md(v)}" for k, v in sorted(document["exports"].items())]
        lines += ["", "## Exports", ""] + (exports or ["- none read"])
    changes = document["changes_deployed"]
    deployed = [f"- {md(c.get('action'))} {md(c.get('logical_id'))} ({md(c.get('resource_type'))})" for c in changes]
    if document["executed"] is None and deployed:
        deployed.insert(0, "- NOT KNOWN whether these were deployed: the deploy step was stopped while executing them")
    lines += ["", "## Changes deployed", ""] + (deployed or [f"- {_no_changes_line(why_none)}"])
    if not shareable:
        lines += ["", "## Steps", ""] + [_step_line(s) for s in document["steps"]]
        ids = ", ".join(sorted({str(c.get("id")) for c in checks})) or "none"
        result = "every check PASS" if passed else "NOT every check passed"
        lines += ["", f"Sign-off row: | Verification: {result} | {md(ids)} | this report | | |"]
    return "\n".join(lines) + "\n"


def _why_no_change_set(steps: list[dict]) -> str:
    """Why no change set was executed, from the deploy step's record (or its absence)."""
    deploy = next((s for s in steps if s["step"] == "deploy"), None)
    if deploy is None:
        return "no deploy ran"
    if deploy.get("skipped") == "no changes":
        return "no changes to deploy"
    if deploy.get("skipped"):
        return f"deploy {deploy['skipped']}"
    if deploy["exit"] == 0:
        return "the deploy step found no changes"
    return "the deploy step executed none"


def _no_changes_line(why: str) -> str:
    """The ``Changes deployed`` section's line when there are none."""
    if why == "no changes to deploy":
        return "no changes: the stack already matched the committed template; no deploy ran"
    if why == "the deploy step found no changes":
        return "no changes: the stack already matched the committed template when the deploy step ran"
    return f"none: {why}"


def _step_line(step: dict) -> str:
    """One step in the report: skipped and why, or its exit, time, the signal that stopped it and its last line."""
    if step.get("skipped"):
        return f"- {step['step']}: skipped ({markdown_text(step['skipped'])})"
    line = f"- {step['step']}: exit {step['exit']} in {step['seconds']} s"
    if step.get("signal"):
        line += f", stopped by {step['signal']}"
    return line + (f"; it said: {markdown_text(step['said'])}" if step.get("said") else "")


def tool_version() -> str:
    """The project's version (setup.cfg)."""
    for line in (REPO / "setup.cfg").read_text(encoding="utf-8").splitlines():
        if line.startswith("version"):
            return line.split("=", 1)[1].strip()
    return "unknown"


def git_commit(top: Path = REPO) -> str:
    """The checkout's commit ("unknown" outside git)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=top, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() or "unknown"
