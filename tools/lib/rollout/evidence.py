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

REPO = Path(__file__).resolve().parents[3]
EVIDENCE_SCHEMA = REPO / "docs" / "evidence.schema.json"
EVIDENCE_SCHEMA_VERSION = 1  # docs/evidence.schema.json's "schema_version": raise both when a field changes meaning


@dataclass
class Record:
    """What one partition's rollout did, as written to its evidence files."""

    partition: str
    infrastructure: str
    account: str
    region: str
    stack: str
    steps: list[dict] = field(default_factory=list)
    plan: dict = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)
    preflight: list[dict] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    gates: list[dict] = field(default_factory=list)
    verified: bool = False
    executed_change_set: str = ""  # as the stack reports it after the deploy step; "" when none ran
    deployed_changes: list[dict] = field(default_factory=list)

    @classmethod
    def of(cls, config: PartitionConfig) -> Record:
        """An empty record for ``config``."""
        infra = config.infrastructure
        return cls(config.partition.value, infra.name, infra.account_id, infra.region, config.stack_name)


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
            "partition": record.partition,
            "infrastructure": record.infrastructure,
            "target": {"account": record.account, "region": record.region, "stack": record.stack},
            "verified": record.verified,
            "rehearsal": self.rehearsal,
            "change_set": record.executed_change_set,
            "changes_deployed": record.deployed_changes,
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

    Every statement comes from what the run did: the executed change set, the changes
    it deployed (or "no changes"), verify's rows, the gates. The shareable variant
    leaves out the account ID and every ARN. Every value is inert text
    (``markdown_text``): DNS answers, Postmark's replies and gate notes are not markup.
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
    where = (
        f"region {md(target['region'])}"
        if shareable
        else f"account {md(target['account'])}, region {md(target['region'])}"
    )
    lines.append(f"- Partition: {md(document['partition'])} ({md(document['infrastructure'])}), {where}")
    verdict = "yes, every check PASS" if passed else (f"NO ({', '.join(map(md, failing))})" if failing else "NO")
    lines.append(f"- Verified: {verdict}")
    changes = document.get("changes_deployed") or []
    if not shareable:
        executed = document.get("change_set") or ""
        lines.append(f"- Change set executed: {md(executed) if executed else '(none: no changes to deploy)'}")
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
    deployed = [f"- {md(c.get('action'))} {md(c.get('logical_id'))} ({md(c.get('resource_type'))})" for c in changes]
    lines += ["", "## Changes deployed", ""] + (
        deployed or ["- no changes: the stack already matched the committed template; no deploy ran"]
    )
    if not shareable:
        steps = [
            f"- {s['step']}: "
            + (f"skipped ({s['skipped']})" if s.get("skipped") else f"exit {s['exit']} in {s['seconds']} s")
            for s in document["steps"]
        ]
        lines += ["", "## Steps", ""] + steps
        ids = ", ".join(sorted({str(c.get("id")) for c in checks})) or "none"
        result = "every check PASS" if passed else "NOT every check passed"
        lines += ["", f"Sign-off row: | Verification: {result} | {md(ids)} | this report | | |"]
    return "\n".join(lines) + "\n"


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
