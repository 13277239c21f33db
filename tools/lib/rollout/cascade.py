"""The cascade dev → stage → demo → prod, gated on verification: the logic behind ``tools/rollout.py``.

For each partition: pre-flight → plan → deploy (skipped when the plan shows no
change; not run when it shows drift) → verify → evidence. Every step is the
operator's own command, run by the rollout's ``Runner`` (as a child process: a
rollout does exactly what the runbook does). It stops at the first partition whose
step fails, quoting the failing rows (pre-flight, drift, verify) and naming the
next command and the one that resumes; it never starts a partition whose
predecessor is not verified (in this run, or verified again now), nor one whose
instance file requires a gate that is not committed (``tools.lib.rollout.gates``).

What a step did is what it says: its ``--json`` document (the deploy step's change
set and changes, never the plan's or the stack's last) and, when a signal stopped
it, its last line, which the rollout's own last line quotes verbatim (through the
run's journal) after writing the partition's evidence.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from instances.registry import PartitionConfig, Registry
from tools.lib.aws.account import DEPLOY_SERVICES
from tools.lib.aws.clients import Aws
from tools.lib.aws.cloudformation import Stack, exports
from tools.lib.children import CLEANUP_GRACE_SECONDS, Ended, run_command, take_masks
from tools.lib.clock import REAL, Clock
from tools.lib.errors import ArdaMailError, NotDone, Refused, Terminated, UsageError
from tools.lib.journal import Journal
from tools.lib.logger import redact
from tools.lib.output import Sink, console, folder_destination_problem
from tools.lib.plan.diff import RECORD_TYPE, drift_advice
from tools.lib.prompt import ask_yes, can_ask
from tools.lib.rollout.evidence import LASTING, Evidence, Record
from tools.lib.rollout.gates import Gates

REPO = Path(__file__).resolve().parents[3]
HEARTBEAT_SECONDS = 30.0  # a line at least this often while a child step runs (a verify may wait 960 s)
HEARTBEAT_BOUNDS = (1.0, 3600.0)  # --heartbeat: no flood of lines, and at least one an hour
DEFAULT_WAIT = 960.0  # verify --wait: longer than Route 53's negative caching (900 s)
WAIT_BOUNDS = (0.0, 3600.0)  # --wait: four times the negative caching; a longer wait is a stuck rollout


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

    def resume_command(self, partition: str) -> str:
        """``python tools/rollout.py [PARTITION ...] --from PARTITION ...`` as a shell can run it: every option this
        run was started with, so that the resumed run does what this one would have."""
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
        options += ["--yes"] if self.yes else []
        return shlex.join(["python", "tools/rollout.py", *self.partitions, "--from", partition, *options])

    def passed_on(self) -> list[str]:
        """The options every child command gets."""
        return (["--profile", self.profile] if self.profile else []) + (
            ["--region", self.region] if self.region else []
        )


class StepStopped:
    """Which child step a signal stopped, and how it ended: raised as ``StepInterrupted`` or ``StepTerminated``."""

    def __init__(self, step: str, stack: str, ended: Ended) -> None:
        super().__init__()
        self.step, self.stack, self.ended = step, stack, ended


class StepInterrupted(StepStopped, KeyboardInterrupt):
    """Ctrl-C while a child step ran: the frame sees a KeyboardInterrupt (exit 130)."""


class StepTerminated(StepStopped, Terminated):
    """SIGTERM while a child step ran: the frame sees Terminated (exit 143)."""


class Runner(Protocol):
    """What a rollout does outside itself: the operator's commands, the account guard, the stack's exports.

    ``ProcessRunner`` does it for real; tests hand in their own (a script, or the
    commands' ``main()`` called in-process).
    """

    def run(self, argv: list[str], label: str) -> Ended:
        """One operator command (``deploy.py ...``, ``tools/verify_partition_mail.py ...``) to its end; a signal
        meanwhile is passed to it and reported in what it returns (``Ended.stopped_by``), never raised."""

    def check_account(self, config: PartitionConfig) -> None:
        """The deploy's account guard for ``config``, read-only; Refused when the credentials are another's."""

    def exports(self, config: PartitionConfig) -> dict[str, str]:
        """The stack's exports, for the evidence."""


class ProcessRunner:
    """Each step a child process of this checkout's commands; AWS read with the operator's profile."""

    def __init__(self, settings: Settings, env: dict[str, str], cwd: Path = REPO) -> None:
        self.settings = settings
        self.env = env
        self.cwd = cwd

    def run(self, argv: list[str], label: str) -> Ended:
        """The command as a child process (``tools.lib.children.run_command``: a signal is forwarded to it and
        waited for); while it runs, a heartbeat line every ``--heartbeat`` seconds: the step, how long, the
        child's last line."""

        def say(elapsed: float, last: str) -> None:
            line = f"{label}: still running after {elapsed:.0f}s" + (f"; last: {last[:160]}" if last else "")
            console().progress(line)

        return run_command(
            [sys.executable, *argv], cwd=self.cwd, env=self.env, heartbeat=(self.settings.heartbeat, say)
        )

    def check_account(self, config: PartitionConfig) -> None:
        """As deploy's step 2: one endpoint set, the configured account."""
        aws = Aws.open(self.settings.profile, config.infrastructure.region, config.stack_name)
        aws.check_account(config, "roll out", DEPLOY_SERVICES)

    def exports(self, config: PartitionConfig) -> dict[str, str]:
        """The stack's exports, as CloudFormation describes them now."""
        aws = Aws.open(self.settings.profile, config.infrastructure.region, config.stack_name)
        return dict(exports(Stack(aws, config.stack_name).describe()))


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
    """One run of the cascade; each method is a named step.

    ``journal`` is the run's (the frame's): every lasting change a child step reports
    (a change set executed, a registration, a change set left) and the last line of a
    step a signal stopped are recorded in it, so the rollout's own last line says them.
    """

    def __init__(
        self,
        registry: Registry,
        settings: Settings,
        gates: Gates,
        evidence: Evidence,
        runner: Runner,
        journal: Journal,
        *,
        clock: Clock = REAL,
        out: Sink | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.gates = gates
        self.evidence = evidence
        self.runner = runner
        self.journal = journal
        self.clock = clock
        self.out = out or console()  # the run's sink: each step's line and the children's heartbeats are progress
        self.documents: dict[str, dict] = {}  # stack -> its evidence document, in the order written
        self.verified: set[str] = set()

    def prepare(self, chosen: list[PartitionConfig]) -> None:
        """Everything a rollout can check before its first step changes anything: the evidence folder can be
        written, the committed gates file is whole (when a partition needs a gate), and the AWS credentials and
        endpoints are each partition's account's.
        """
        folder = self.evidence.folder
        problem = folder_destination_problem(folder)
        if problem:
            raise UsageError(f"--evidence-dir must be a folder this user can write, got: {str(folder)!r} ({problem})")
        if any(config.requires_gates for config in chosen):
            self.gates.committed()
        for config in chosen:
            self.runner.check_account(config)
        folder.mkdir(parents=True, exist_ok=True)

    def roll(self, config: PartitionConfig) -> Record:
        """pre-flight → plan → deploy → verify → record, for one partition; a signal stops it with its evidence."""
        record = Record.of(config)
        try:
            record.gates = self.check_entry(config)
            self.walk(record, config)
        except (KeyboardInterrupt, Terminated) as stop:
            self.stopped(record, stop)
            raise
        return record

    def walk(self, record: Record, config: PartitionConfig) -> None:
        """The partition's steps in order; the first that fails stops the cascade (``fail``)."""
        deploy = ["deploy.py", config.infrastructure.name, config.partition.value]
        ended = self.step(record, "pre-flight", [*deploy, "--preflight", "--json"])
        if ended.returncode != 0:
            self.fail(record, "pre-flight", ended, record.preflight)
        # The plan and the deploy ask DNS only to adopt a retained zone: the rollout's --resolver then.
        adopting = ["--resolver", self.settings.resolver] if self.settings.resolver else []
        ended = self.step(record, "plan", [*deploy, "--plan", "--json", *adopting])
        if ended.returncode != 0:
            self.fail(record, "plan", ended)
        if record.plan.get("drift"):
            self.refuse_drift(record, config, record.plan["drift"])
        if record.plan.get("changes"):
            # What it executed and the changes AWS listed for it come from its own document (Record.deployed):
            # another run may have deployed between the plan and this step.
            ended = self.step(record, "deploy", [*deploy, "--yes", "--json", *adopting])
            if ended.returncode != 0:
                self.fail(record, "deploy", ended)
        else:
            record.steps.append({"step": "deploy", "exit": None, "seconds": 0.0, "skipped": "no changes"})
        ended = self.verify(record, config)
        if ended.returncode != 0:
            self.fail(record, "verify", ended, record.checks)
        record.verified, record.outcome = True, "verified"
        self.verified.add(config.partition.value)
        record.exports = self.runner.exports(config)
        self.write_evidence(record)

    def step(self, record: Record, step: str, argv: list[str]) -> Ended:
        """One child step: run it, record what it did (its exit, its document, its lasting changes); a signal
        that stopped it stops the rollout too, once the child has said what it left."""
        started = self.clock.monotonic()
        ended = take_masks(self.runner.run([*argv, *self.settings.passed_on()], f"{record.stack}: {step}"))
        seconds = round(self.clock.monotonic() - started, 2)
        entry: dict = {"step": step, "exit": ended.returncode, "seconds": seconds}
        if ended.stopped_by:
            entry["signal"] = ended.stopped_by
        if ended.returncode != 0 or ended.stopped_by:
            entry["said"] = redact(ended.last_line()) or "(nothing)"
        record.steps.append(entry)
        record.take(step, ended.document())
        self.out.progress(f"{record.stack}: {step:<10} exit {ended.returncode}  {seconds:6.1f}s")
        if ended.stopped_by:
            stopped = StepInterrupted if ended.stopped_by == "SIGINT" else StepTerminated
            raise stopped(step, record.stack, ended)
        self.note_changes(record, step, ended)
        return ended

    def note_changes(self, record: Record, step: str, ended: Ended) -> None:
        """The lasting changes a finished child step reports (its journal), into this run's journal."""
        journal = ended.document().get("journal") or []
        said = [str(e["said"]) for e in journal if e.get("state") in LASTING and e.get("said")]
        if said:
            self.journal.fact(f"{record.stack} {step}", done=f"{record.stack} {step}: {'; '.join(said)}")

    def stopped(self, record: Record, stop: BaseException) -> None:
        """A signal stopped this partition: its evidence (when it had started), and the sentence the rollout's last
        line ends with: the stopped child's own last line, verbatim, where the evidence is, how to resume."""
        record.outcome = "interrupted" if isinstance(stop, KeyboardInterrupt) else "terminated"
        if isinstance(stop, StepStopped):
            said = redact(stop.ended.last_line()) or "nothing"
            what = f'the {stop.step} step of {stop.stack} was stopped and said: "{said}"'
            if stop.ended.killed:
                what += (
                    f" (then it was killed, {CLEANUP_GRACE_SECONDS:g} s after the signal: what it was doing may be "
                    "half done)"
                )
        else:
            done = ", ".join(s["step"] for s in record.steps) or "none"
            what = f"{record.stack} was stopped between steps (steps done: {done})"
        if record.steps:
            what += self.write_what_is_known(record) or f"; evidence in {self.evidence.folder}"
        resume = self.settings.resume_command(record.partition)
        self.journal.fact(f"{record.stack} stopped", done=f"{what}; resume with: {resume}")

    def fail(self, record: Record, step: str, ended: Ended, rows: list[dict] | None = None) -> None:
        """Write what is known, then stop the cascade with one line: partition, step, what failed, how to go on.

        ``rows`` are the step's own rows (pre-flight or verify): the failing ones are quoted;
        without any, the child's error line is (its stderr: under ``--json`` stdout is the document).
        """
        record.outcome = "failed"
        unwritten = self.write_what_is_known(record)
        failing = [r for r in rows or [] if r.get("status") != "PASS"]
        if failing:
            what = quote(
                f"{' '.join(str(r[k]) for k in ('id', 'check') if r.get(k))} {r.get('status')}: {r.get('detail', '')}"
                for r in failing
            )
        else:
            lines = [line for line in ended.stderr.splitlines() if line.strip()]
            what = ([line for line in lines if ": error: " in line] or lines[-1:] or ["no output"])[-1].strip()
        raise ArdaMailError(
            f"{record.partition}: {step} failed (exit {ended.returncode}): {redact(what)}{unwritten}; "
            f"fix it, then resume with: {self.settings.resume_command(record.partition)}"
        )

    def write_what_is_known(self, record: Record) -> str:
        """The evidence of a run that stops; "" when written, else the words for the stopping line."""
        try:
            self.write_evidence(record)
        except ArdaMailError:
            return f" (the evidence could not be written to {self.evidence.folder} either)"
        return ""

    def refuse_drift(self, record: Record, config: PartitionConfig, drift: list[dict]) -> None:
        """The plan found drift: a deploy would be refused. Quote the rows and name what puts them back."""
        record.outcome = "refused"
        record.steps.append({"step": "deploy", "exit": None, "seconds": 0.0, "skipped": "not run: drift"})
        unwritten = self.write_what_is_known(record)
        rows = quote(f"{d.get('resource')} {d.get('property')}: expected {d.get('expected')}, live {d.get('actual')}"
                     for d in drift)  # fmt: skip
        deploy = shlex.join(
            ["python", "deploy.py", config.infrastructure.name, config.partition.value, *self.settings.passed_on()]
        )
        by_hand = [str(d.get("resource")) for d in drift if d.get("resource_type", RECORD_TYPE) != RECORD_TYPE]
        # Not "then run" the deploy: the resume runs it again.
        then = drift_advice(
            by_hand, stack=config.stack_name, region=config.infrastructure.region, command=deploy, rerun=False
        )
        raise Refused(
            f"{record.partition}: deploy not run: the live stack has drifted from the deployed template: "
            f"{redact(rows)}{unwritten}; {then}, then resume with: {self.settings.resume_command(record.partition)}"
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
                    f"roll it out first: {self.settings.resume_command(before.partition.value)}"
                )
            self.verified.add(before.partition.value)
        return self.gates.check(config, self.settings.resume_command(config.partition.value))

    def confirm(self, config: PartitionConfig) -> None:
        """Between partitions: the operator says go (or --yes)."""
        if self.settings.yes:
            return
        resume = self.settings.resume_command(config.partition.value)
        if not can_ask():
            raise NotDone(f"{config.partition.value}: not started without a terminal or --yes; resume with: {resume}")
        if not ask_yes(f"Roll out {config.stack_name} in account {config.infrastructure.account_id}?"):
            raise NotDone(f"{config.partition.value}: not started (answered no); resume with: {resume}")

    def verify(self, record: Record, config: PartitionConfig) -> Ended:
        """``verify_partition_mail.py --json --wait`` for one partition."""
        argv = ["tools/verify_partition_mail.py", config.infrastructure.name, config.partition.value, "--json"]
        argv += ["--wait", f"{self.settings.wait:g}"]
        argv += ["--resolver", self.settings.resolver] if self.settings.resolver else []
        return self.step(record, "verify", argv)

    def write_evidence(self, record: Record) -> None:
        """The partition's JSON record and its Markdown reports; listed for ``--json`` even when they cannot be
        written."""
        document = self.evidence.document(record)
        self.documents[record.stack] = document
        try:
            self.evidence.write(document)
        except OSError as exc:
            done = ", ".join(f"{s['step']} exit {s['exit']}" for s in record.steps) or "no step"
            raise ArdaMailError(
                f"{record.partition}: the evidence could not be written to {self.evidence.folder} "
                f"({exc.strerror or exc}) after {done}; make room, then resume with: "
                f"{self.settings.resume_command(record.partition)}"
            ) from None


def quote(rows: Iterable[str], most: int = 3) -> str:
    """Rows for one line: the first ``most``, then how many more."""
    rows = list(rows)
    more = f"; and {len(rows) - most} more" if len(rows) > most else ""
    return "; ".join(rows[:most]) + more
