"""The cascade dev → stage → demo → prod, gated on verification: the logic behind ``tools/rollout.py``.

For each partition: pre-flight → plan → deploy (skipped when the plan shows no
change; not run when it shows drift) → verify → evidence. Every step is the
operator's own command, run as a child process (``tools.lib.children``), so a
rollout does exactly what the runbook does. It stops at the first partition whose
step fails, quoting the failing rows (pre-flight, drift, verify) and naming the
next command and the one that resumes; it never starts a partition whose
predecessor is not verified (in this run, or verified again now), nor one whose
instance file requires a gate that is not committed in ``docs/rollout-gates.json``.

Evidence: per partition a JSON file (schema: ``docs/evidence.schema.json``), a
Markdown report and a shareable one under the evidence folder. Every file goes
through the output sink's writer, so nothing written holds the token.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from instances import rules
from instances.registry import PartitionConfig, Registry
from tools.lib import aws_account
from tools.lib.aws_session import open_session
from tools.lib.children import run_child
from tools.lib.clock import REAL, Clock
from tools.lib.deploy.cloudformation import Stack, exports
from tools.lib.errors import ArdaMailError, NotDone, Refused, UsageError
from tools.lib.git_guard import GitUnanswered, blobs, head_tree
from tools.lib.logger import MASK_COMMAND, redact, register_secret, unescape_workflow_value
from tools.lib.output import Sink, folder_destination_problem, markdown_text, write_file
from tools.lib.plan.diff import RECORD_TYPE, drift_details_command
from tools.lib.prompt import ask_yes, can_ask

REPO = Path(__file__).resolve().parents[2]
GATES_PATH = "docs/rollout-gates.json"  # relative to the checkout; committed, reviewed
GATE_FIELDS = ("gate", "by", "at")
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


HEARTBEAT_SECONDS = 30.0  # a line at least this often while a child step runs (a verify may wait 960 s)
DEFAULT_WAIT = 960.0  # verify --wait: longer than Route 53's negative caching (900 s)


def resume_command(partition: str, settings: Settings) -> str:
    """``python tools/rollout.py [PARTITION ...] --from PARTITION ...`` as a shell can run it."""
    argv = ["python", "tools/rollout.py", *settings.partitions, "--from", partition, *settings.resume_options()]
    return " ".join(shlex.quote(a) for a in argv)


@dataclass(frozen=True)
class Settings:
    """How this rollout runs: the operator's options."""

    yes: bool = False
    wait: float = DEFAULT_WAIT
    resolver: str | None = None
    heartbeat: float = HEARTBEAT_SECONDS
    profile: str | None = None
    region: str | None = None
    # Only for the resume command: what else the run was started with.
    partitions: tuple[str, ...] = ()
    through: str | None = None
    evidence_dir: Path | None = None

    def resume_options(self) -> list[str]:
        """Every option of this run but its partitions and where it starts: the resumed run does what this one would."""
        options: list[str] = []
        if self.through:
            options += ["--through", self.through]
        if self.wait != DEFAULT_WAIT:
            options += ["--wait", f"{self.wait:g}"]
        if self.resolver:
            options += ["--resolver", self.resolver]
        if self.heartbeat != HEARTBEAT_SECONDS:
            options += ["--heartbeat", f"{self.heartbeat:g}"]
        options += self.passed_on()
        if self.evidence_dir is not None:
            options += ["--evidence-dir", str(self.evidence_dir)]
        return options + (["--yes"] if self.yes else [])

    def passed_on(self) -> list[str]:
        """The options every child command gets."""
        return (["--profile", self.profile] if self.profile else []) + (
            ["--region", self.region] if self.region else []
        )


# -- gates -------------------------------------------------------------------------------------


class Gates:
    """Operator gates, recorded in ``docs/rollout-gates.json`` and counted once committed.

    The file is reviewed and committed like code, so CI and every operator see the
    same gates; the rollout reads it from ``HEAD`` (git's object store), never from
    the working copy: a gate recorded but not committed does not open a partition.
    Only a gate an instance file requires (``[rollout] requires_gates``) can be recorded.
    """

    def __init__(self, top: Path, required: Iterable[str]) -> None:
        self.top = top
        self.path = top / GATES_PATH
        self.required = sorted(set(required))

    def parse(self, text: str | None, where: str) -> list[dict]:
        """The gates in ``text``; a file that is not a list of complete entries is refused, naming the entry."""
        if text is None:
            return []
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise Refused(f"{where} is not JSON ({exc}); fix it in a reviewed commit") from None
        if not isinstance(data, list):
            raise Refused(f"{where} must hold a list of gates, got: {type(data).__name__}; fix it in a reviewed commit")
        for index, entry in enumerate(data, 1):
            missing = [key for key in GATE_FIELDS if not (isinstance(entry, dict) and isinstance(entry.get(key), str))]
            if missing or not entry["gate"] or not entry["by"]:
                raise Refused(
                    f"{where}: gate {index} lacks {', '.join(missing) or 'a name or who passed it'} "
                    f"(each gate needs {', '.join(GATE_FIELDS)} as text); record it again with: "
                    "python tools/rollout.py --record-gate NAME --by WHO --note TEXT, and remove the broken entry"
                )
        return data

    def working(self) -> list[dict]:
        """The gates in the working copy (what ``--record-gate`` appends to)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        except OSError as exc:
            raise ArdaMailError(f"{self.path} cannot be read ({exc.strerror or exc}); fix its permissions") from None
        return self.parse(text, str(self.path))

    def read(self) -> list[dict]:
        """The gates as ``HEAD`` holds them: what CI and every other operator see."""
        try:
            found = head_tree(self.top, [GATES_PATH]).get(GATES_PATH)
            raw = blobs(self.top, [found.sha])[found.sha] if found else None
        except GitUnanswered as exc:
            raise Refused(
                f"the committed gates ({GATES_PATH}) cannot be read: git says: {exc}; run the rollout from a git "
                "checkout of the reviewed commit"
            ) from None
        return self.parse(None if raw is None else raw.decode("utf-8", "replace"), f"{GATES_PATH} at HEAD")

    def uncommitted(self, name: str, committed: list[dict]) -> bool:
        """Whether ``name`` is recorded in the working copy but not among the ``committed`` gates (``read()``)."""
        return any(g["gate"] == name and g not in committed for g in self.working())

    def record(self, name: str, by: str, note: str, at: str, commit: str) -> dict:
        """Add a gate to the working copy's record (to be committed and reviewed)."""
        problem = rules.gate_names([name])
        if problem:
            raise UsageError(f"--record-gate must {problem.removeprefix('be a list of ')}, got: {name!r}")
        if name not in self.required:
            known = ", ".join(self.required) or "none: no instance file has [rollout] requires_gates"
            raise UsageError(f"--record-gate must name a gate an instance file requires ({known}), got: {name!r}")
        entry = {"gate": name, "by": by, "note": note, "at": at, "commit": commit}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_file(self.path, json.dumps(self.working() + [entry], indent=2) + "\n")
        return entry


# -- the cascade ---------------------------------------------------------------------------------


def cascade(registry: Registry, partitions: list[str], start: str | None, through: str | None) -> list[PartitionConfig]:
    """The partitions this run walks, in cascade order."""
    active = list(registry.partitions.values())  # already in cascade order
    names = [c.partition.value for c in active]
    for wanted in (*partitions, start, through):
        if wanted and wanted not in names:
            raise UsageError(f"partition {wanted!r} is not active (active: {', '.join(names) or 'none'})")
    chosen = [c for c in active if not partitions or c.partition.value in partitions]
    if start:
        chosen = [c for c in chosen if names.index(c.partition.value) >= names.index(start)]
    if through:
        chosen = [c for c in chosen if names.index(c.partition.value) <= names.index(through)]
    if not chosen:
        raise UsageError("no partition to roll out with these arguments")
    return chosen


class Rollout:
    """One run of the cascade; each method is a named step."""

    def __init__(
        self,
        registry: Registry,
        settings: Settings,
        evidence_dir: Path,
        gates: Gates,
        env: dict[str, str],
        out: Sink,
        *,
        clock: Clock = REAL,
        commit: Callable[[], str],
        runner: Callable[[list[str]], subprocess.CompletedProcess] | None = None,
        exports_of: Callable[[PartitionConfig], dict[str, str]] | None = None,
        account_guard: Callable[[PartitionConfig], None] | None = None,
        executed_of: Callable[[PartitionConfig], str] | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.evidence_dir = evidence_dir
        self.gates = gates
        self.env = env
        self.out = out
        self.clock = clock
        self.commit = commit
        self.records: list[Record] = []
        self.verified: set[str] = set()
        self.runner = runner or self.run_command
        self.exports_of = exports_of or self.read_exports
        self.account_guard = account_guard or self.check_account
        self.executed_of = executed_of or self.read_executed_change_set
        self._running = "rollout"

    def prepare(self, chosen: list[PartitionConfig]) -> None:
        """Everything a rollout can check before its first step changes anything: the evidence folder can be
        written, the committed gates file is whole (when a partition needs a gate), and the AWS credentials and
        endpoints are each partition's account's.
        """
        problem = folder_destination_problem(self.evidence_dir)
        if problem:
            raise UsageError(
                f"--evidence-dir must be a folder this user can write, got: {str(self.evidence_dir)!r} ({problem})"
            )
        if any(config.requires_gates for config in chosen):
            self.gates.read()
        for config in chosen:
            self.account_guard(config)
        self.evidence_dir.mkdir(parents=True, exist_ok=True)

    def check_account(self, config: PartitionConfig) -> None:
        """The deploy's account guard (one endpoint set, the configured account) for ``config``, read-only."""
        region = config.infrastructure.region
        session = open_session(self.settings.profile, region, config.stack_name)
        aws_account.check_session_account(session, config, "roll out", ("cloudformation", "route53", "secretsmanager"))

    def run_command(self, argv: list[str]) -> subprocess.CompletedProcess:
        """One operator command (``deploy.py ...``, ``tools/verify_partition_mail.py ...``) as a child process.

        While it runs, a heartbeat line every ``--heartbeat`` seconds: the step, how long, the child's last line.
        """
        where = self._running

        def say(elapsed: float, last: str) -> None:
            line = f"{where}: still running after {elapsed:.0f}s" + (f"; last: {last[:160]}" if last else "")
            print(line, file=sys.stderr, flush=True)  # the frame's stream redacts and neutralises it

        return run_child([sys.executable, *argv], cwd=REPO, env=self.env, heartbeat=(self.settings.heartbeat, say))

    def _run(self, record: Record, step: str, argv: list[str]) -> subprocess.CompletedProcess:
        self._running = f"{record.stack}: {step}"
        started = self.clock.monotonic()
        result = take_masks(self.runner([*argv, *self.settings.passed_on()]))
        seconds = round(self.clock.monotonic() - started, 2)
        record.steps.append({"step": step, "exit": result.returncode, "seconds": seconds})
        print(f"{record.stack}: {step:<10} exit {result.returncode}  {seconds:6.1f}s", file=sys.stderr)
        return result

    def resume(self, partition: str) -> str:
        """The command that resumes this rollout at ``partition``, with every option it was started with."""
        return resume_command(partition, self.settings)

    def fail(
        self,
        record: Record,
        step: str,
        result: subprocess.CompletedProcess,
        rows: list[dict] | None = None,
    ) -> None:
        """Write what is known, then stop the cascade with one line: partition, step, what failed, how to go on.

        ``rows`` are the step's own rows (pre-flight or verify): the failing ones are quoted;
        without any, the child's error line is.
        """
        unwritten = self.write_what_is_known(record)
        failing = [r for r in rows or [] if r.get("status") != "PASS"]
        if failing:
            what = quote(
                f"{' '.join(str(r[k]) for k in ('id', 'check') if r.get(k))} {r.get('status')}: {r.get('detail', '')}"
                for r in failing
            )
        else:
            lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
            what = ([line for line in lines if ": error: " in line] or lines[-1:] or ["no output"])[-1].strip()
        raise ArdaMailError(
            f"{record.partition}: {step} failed (exit {result.returncode}): {redact(what)}{unwritten}; "
            f"fix it, then resume with: {self.resume(record.partition)}"
        )

    def write_what_is_known(self, record: Record) -> str:
        """The evidence of a run that stops; "" when written, else the words for the stopping line."""
        try:
            self.write_evidence(record)
        except ArdaMailError:
            return f" (the evidence could not be written to {self.evidence_dir} either)"
        return ""

    def refuse_drift(self, record: Record, config: PartitionConfig, drift: list[dict]) -> None:
        """The plan found drift: a deploy would be refused. Quote the rows and name what puts them back."""
        record.steps.append({"step": "deploy", "exit": None, "seconds": 0.0, "skipped": "not run: drift"})
        unwritten = self.write_what_is_known(record)
        rows = quote(f"{d.get('resource')} {d.get('property')}: expected {d.get('expected')}, live {d.get('actual')}"
                     for d in drift)  # fmt: skip
        deploy = shlex.join(
            ["python", "deploy.py", config.infrastructure.name, config.partition.value, *self.settings.passed_on()]
        )
        by_hand = sorted({str(d.get("resource")) for d in drift if d.get("resource_type", RECORD_TYPE) != RECORD_TYPE})
        if by_hand:
            inspect = drift_details_command(config.stack_name, config.infrastructure.region)
            then = (
                f"--overwrite-drift puts back only DNS records: put {', '.join(by_hand)} back by hand as expected "
                f"(see: {inspect})"
            )
        else:
            then = f"review it ({deploy} --plan), then put the records back with: {deploy} --overwrite-drift"
        raise Refused(
            f"{record.partition}: deploy not run: the live stack has drifted from the deployed template: "
            f"{redact(rows)}{unwritten}; {then}, then resume with: {self.resume(record.partition)}"
        )

    def predecessor(self, config: PartitionConfig) -> PartitionConfig | None:
        """The active partition before this one in the cascade."""
        active = list(self.registry.partitions.values())
        index = [c.partition.value for c in active].index(config.partition.value)
        return active[index - 1] if index > 0 else None

    def check_entry(self, config: PartitionConfig) -> list[dict]:
        """Before a partition: its predecessor verified, its gates recorded. The gates."""
        before = self.predecessor(config)
        if before is not None and before.partition.value not in self.verified:
            if self.verify(Record.of(before), before).returncode != 0:
                raise Refused(
                    f"{config.partition.value}: not started: its predecessor {before.partition.value} is not verified; "
                    f"roll it out first: {resume_command(before.partition.value, self.settings)}"
                )
            self.verified.add(before.partition.value)
        recorded = self.gates.read() if config.requires_gates else []
        found = []
        for gate in config.requires_gates:
            matches = [g for g in recorded if g.get("gate") == gate]
            resume = resume_command(config.partition.value, self.settings)
            if not matches and self.gates.uncommitted(gate, recorded):
                raise Refused(
                    f"{config.partition.value}: not started: gate {gate!r} is recorded in {GATES_PATH} but not "
                    f"committed; the rollout counts reviewed gates only: commit it (git add {GATES_PATH}; git commit), "
                    f"have it reviewed and merged, then resume with: {resume}"
                )
            if not matches:
                raise Refused(
                    f"{config.partition.value}: not started: gate {gate!r} is not recorded in {GATES_PATH}; when it "
                    f"is passed, run: python tools/rollout.py --record-gate {gate} --by <who> --note <evidence>, "
                    f"commit {GATES_PATH} for review, then resume with: {resume}"
                )
            found.append(matches[-1])
        return found

    def confirm(self, config: PartitionConfig) -> None:
        """Between partitions: the operator says go (or --yes)."""
        if self.settings.yes:
            return
        resume = resume_command(config.partition.value, self.settings)
        if not can_ask():
            raise NotDone(f"{config.partition.value}: not started without a terminal or --yes; resume with: {resume}")
        if not ask_yes(f"Roll out {config.stack_name} in account {config.infrastructure.account_id}?"):
            raise NotDone(f"{config.partition.value}: not started (answered no); resume with: {resume}")

    def verify(self, record: Record, config: PartitionConfig) -> subprocess.CompletedProcess:
        """``verify_partition_mail.py --json --wait`` for one partition."""
        argv = ["tools/verify_partition_mail.py", config.infrastructure.name, config.partition.value, "--json"]
        argv += ["--wait", f"{self.settings.wait:g}"]
        argv += ["--resolver", self.settings.resolver] if self.settings.resolver else []
        return self._run(record, "verify", argv)

    def roll(self, config: PartitionConfig) -> Record:
        """pre-flight → plan → deploy → verify → record, for one partition."""
        record = Record.of(config)
        record.gates = self.check_entry(config)
        deploy = ["deploy.py", config.infrastructure.name, config.partition.value]
        result = self._run(record, "pre-flight", [*deploy, "--preflight", "--json"])
        record.preflight = _document(result.stdout).get("checks", [])
        if result.returncode != 0:
            self.fail(record, "pre-flight", result, record.preflight)
        result = self._run(record, "plan", [*deploy, "--plan", "--json"])
        if result.returncode != 0:
            self.fail(record, "plan", result)
        record.plan = _document(result.stdout)
        if record.plan.get("drift"):
            self.refuse_drift(record, config, record.plan["drift"])
        if record.plan.get("changes"):
            result = self._run(record, "deploy", [*deploy, "--yes"])
            if result.returncode != 0:
                self.fail(record, "deploy", result)
            # The change set CloudFormation executed, as the stack reports it (the plan's was deleted).
            record.executed_change_set = self.executed_of(config)
            record.deployed_changes = list(record.plan["changes"])
        else:
            record.steps.append({"step": "deploy", "exit": None, "seconds": 0.0, "skipped": "no changes"})
        result = self.verify(record, config)
        record.checks = _document(result.stdout).get("checks", [])
        if result.returncode != 0:
            self.fail(record, "verify", result, record.checks)
        record.verified = True
        self.verified.add(config.partition.value)
        record.exports = self.exports_of(config)
        self.write_evidence(record)
        return record

    def rehearsal(self) -> str:
        """Where AWS was, when it was not AWS (the rehearsal world): "" for a real rollout."""
        endpoint = self.env.get("AWS_ENDPOINT_URL", "")
        host = (urlsplit(endpoint).hostname or "").lower()
        return endpoint if endpoint and not host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws")) else ""

    def describe_stack(self, config: PartitionConfig) -> dict | None:
        """The partition's stack as CloudFormation describes it now (None when there is none)."""
        region = config.infrastructure.region
        session = open_session(self.settings.profile, region, config.stack_name)
        return Stack(session.client("cloudformation", region_name=region), config.stack_name).describe()

    def read_executed_change_set(self, config: PartitionConfig) -> str:
        """The ``ChangeSetId`` the stack reports: the change set its last update executed."""
        return str((self.describe_stack(config) or {}).get("ChangeSetId") or "")

    def read_exports(self, config: PartitionConfig) -> dict[str, str]:
        """The stack's exports, for the evidence."""
        return dict(exports(self.describe_stack(config)))

    def write_evidence(self, record: Record) -> None:
        """The partition's JSON record and its Markdown report."""
        document = {
            "schema_version": EVIDENCE_SCHEMA_VERSION,
            "partition": record.partition,
            "infrastructure": record.infrastructure,
            "target": {"account": record.account, "region": record.region, "stack": record.stack},
            "verified": record.verified,
            "rehearsal": self.rehearsal(),
            "change_set": record.executed_change_set,
            "changes_deployed": record.deployed_changes,
            "plan": record.plan,
            "exports": record.exports,
            "preflight": record.preflight,
            "checks": record.checks,
            "gates": record.gates,
            "steps": record.steps,
            "tool": {"version": tool_version(), "commit": self.commit()},
            "written_at": f"{self.clock.now():%Y-%m-%dT%H:%M:%SZ}",
        }
        base = self.evidence_dir / record.stack
        try:
            self.evidence_dir.mkdir(parents=True, exist_ok=True)
            write_file(base.with_suffix(".json"), json.dumps(document, indent=2) + "\n")
            write_file(base.with_suffix(".md"), markdown(document))
            write_file(base.parent / f"{record.stack}.shareable.md", markdown(document, shareable=True))
        except OSError as exc:
            done = ", ".join(f"{s['step']} exit {s['exit']}" for s in record.steps) or "no step"
            raise ArdaMailError(
                f"{record.partition}: the evidence could not be written to {self.evidence_dir} "
                f"({exc.strerror or exc}) after {done}; make room, then resume with: {self.resume(record.partition)}"
            ) from None
        if record not in self.records:
            self.records.append(record)


def take_masks(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """A child's output without its ``::add-mask::`` lines, each value registered as this run's secret.

    On GitHub Actions a child masks the token by printing the workflow command; the
    rollout captures the child's output, so the runner would never see it. Registering
    the value here redacts it from everything the rollout prints or writes and prints
    the mask itself, where the runner reads it (once per value).
    """
    masks: list[str] = []

    def without_masks(text: str | None) -> str:
        kept = []
        for line in (text or "").splitlines(keepends=True):
            if line.startswith(MASK_COMMAND):
                masks.append(unescape_workflow_value(line[len(MASK_COMMAND) :].rstrip("\r\n")))
            else:
                kept.append(line)
        return "".join(kept)

    stdout, stderr = without_masks(result.stdout), without_masks(result.stderr)
    for value in masks:
        if len(value) >= 4:
            register_secret(value)
    return subprocess.CompletedProcess(result.args, result.returncode, stdout, stderr)


def quote(rows: Iterable[str], most: int = 3) -> str:
    """Rows for one line: the first ``most``, then how many more."""
    rows = list(rows)
    more = f"; and {len(rows) - most} more" if len(rows) > most else ""
    return "; ".join(rows[:most]) + more


def _document(stdout: str) -> dict:
    """A child's ``--json`` document (its stdout), or {} when it printed none."""
    try:
        document = json.loads(stdout)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def markdown(document: dict, *, shareable: bool = False) -> str:
    """The evidence as a report fit for the sign-off table (``shareable``: for Postmark's compliance reply).

    Every statement comes from what the run did: the executed change set as the stack
    reports it, the changes it deployed (or "no changes"), verify's rows, the gates. The
    shareable variant leaves out the account ID and every ARN. Every value is inert text
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


def git_commit() -> str:
    """The checkout's commit ("unknown" outside git)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() or "unknown"
