"""Roll a change out through the cascade: dev → stage → demo → prod, gated on verification.

    python tools/rollout.py [PARTITION ...] [--through PARTITION] [--from PARTITION]
                            [--yes] [--evidence-dir DIR] [--wait SECONDS] [--json]
    python tools/rollout.py --record-gate NAME --by WHO [--note TEXT]

Walks the active partitions in cascade order (each in the infrastructure its
instance file names), or only those named. For each: pre-flight → plan → deploy →
verify (``--wait``) → record the evidence. It stops at the first partition whose
step fails, says which step and what failed, and prints the command that resumes
(``--from PARTITION``). It never starts a partition whose predecessor in the
cascade is not verified (verified in this run, or verified again now), nor one
whose instance file requires a gate that has not been recorded.

Between partitions the operator confirms on a terminal; ``--yes`` is for CI. Every
step is the operator's own command, run as a subprocess (``deploy.py``,
``tools/verify_partition_mail.py``), so a rollout does exactly what the runbook does.

Evidence: per partition a JSON file and a Markdown report under ``--evidence-dir``
(default ``rollout-evidence/<UTC timestamp>/``, git-ignored): target account,
region, stack, change set, parameter and property diff, exports, every verify
check with its detail, gates, timings, tool version and git commit. Gates live in
``rollout-evidence/gates.json``. Nothing written ever holds the token.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from the checkout

from instances.registry import PARTITION_IDS, PartitionConfig, load_registry  # noqa: E402
from tools.lib.cli import ask_yes, report_error, report_unexpected  # noqa: E402
from tools.lib.errors import ArdaMailError, UsageError  # noqa: E402
from tools.lib.logger import redact, setup_logging  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_NOT_CONFIRMED = 0, 1, 2, 3, 4
EVIDENCE_ROOT = REPO / "rollout-evidence"
GATES_FILE = "gates.json"
EXIT_CODES = """exit codes:
  0  every partition deployed and verified (or a gate recorded)
  1  a step failed: the message names the partition, the step, and the command that resumes
  2  bad arguments, unknown partition, bad instance config
  3  a gate the next partition requires is not recorded, or its predecessor is not verified
  4  not confirmed between partitions (no terminal and no --yes, or answered no)"""


class Stopped(ArdaMailError):
    """The cascade stopped before a partition: a gate or an unverified predecessor."""

    exit_code = EXIT_REFUSED


class NotConfirmed(ArdaMailError):
    """The operator did not say go (or there was no terminal and no --yes)."""

    exit_code = EXIT_NOT_CONFIRMED


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
    checks: list[dict] = field(default_factory=list)
    gates: list[dict] = field(default_factory=list)
    verified: bool = False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="rollout.py",
        description="Roll the mail stack out partition by partition: dev, stage, demo, prod.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("partitions", nargs="*", metavar="PARTITION", help="only these (default: every active one)")
    parser.add_argument("--through", metavar="PARTITION", help="stop after this partition")
    parser.add_argument("--from", dest="start", metavar="PARTITION", help="resume at this partition")
    parser.add_argument("--yes", action="store_true", help="no confirmation between partitions (CI)")
    parser.add_argument(
        "--evidence-dir", type=Path, help="where to write the evidence (default rollout-evidence/<UTC>)"
    )
    parser.add_argument("--wait", type=float, default=600.0, metavar="SECONDS", help="verify --wait (default 600)")
    parser.add_argument("--resolver", metavar="IP[:PORT]", help="verify --resolver (e.g. the rehearsal world's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with every partition's record")
    parser.add_argument("--record-gate", metavar="NAME", help="record that the named gate is passed, and exit")
    parser.add_argument("--by", metavar="WHO", help="with --record-gate: who passed it")
    parser.add_argument("--note", default="", metavar="TEXT", help="with --record-gate: e.g. the ticket or reply")
    parser.add_argument("--debug", action="store_true", help="verbose logs and tracebacks (secrets stay redacted)")
    args = parser.parse_args(argv)
    for name in ("through", "start", *(["partitions"] if args.partitions else [])):
        values = getattr(args, name)
        for value in values if isinstance(values, list) else [values]:
            if value is not None and value not in PARTITION_IDS:
                parser.error(f"partition must be one of {', '.join(PARTITION_IDS)}, got: {value!r}")
    if args.record_gate and not args.by:
        parser.error("--record-gate needs --by WHO")
    if args.wait < 0:
        parser.error(f"--wait must be zero or more seconds, got: {args.wait:g}")
    return args


# -- gates -------------------------------------------------------------------------------------


def gates_path() -> Path:
    """Where recorded gates live (git-ignored, beside the evidence)."""
    return Path(os.environ.get("ROLLOUT_EVIDENCE_ROOT") or EVIDENCE_ROOT) / GATES_FILE


def read_gates() -> list[dict]:
    """Every gate recorded so far."""
    try:
        data = json.loads(gates_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ArdaMailError(
            f"{gates_path()} cannot be read ({exc}); fix or remove it, then record the gates again"
        ) from None
    return data if isinstance(data, list) else []


def record_gate(name: str, by: str, note: str) -> dict:
    """Add a gate to the record."""
    from instances import rules

    problem = rules.gate_names([name])
    if problem:
        raise UsageError(f"--record-gate must name one gate (lowercase letters, digits, hyphens), got: {name!r}")
    entry = {"gate": name, "by": by, "note": note, "at": _now(), "commit": git_commit()}
    gates = read_gates() + [entry]
    path = gates_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(gates, indent=2), encoding="utf-8")
    partial.replace(path)
    return entry


# -- the cascade ---------------------------------------------------------------------------------


def cascade(args: argparse.Namespace) -> list[PartitionConfig]:
    """The partitions this run walks, in cascade order."""
    registry = load_registry()
    active = list(registry.partitions.values())  # already in cascade order
    names = [c.partition.value for c in active]
    for wanted in (*args.partitions, args.start, args.through):
        if wanted and wanted not in names:
            raise UsageError(f"partition {wanted!r} is not active (active: {', '.join(names) or 'none'})")
    chosen = [c for c in active if not args.partitions or c.partition.value in args.partitions]
    if args.start:
        chosen = [c for c in chosen if names.index(c.partition.value) >= names.index(args.start)]
    if args.through:
        chosen = [c for c in chosen if names.index(c.partition.value) <= names.index(args.through)]
    if not chosen:
        raise UsageError("no partition to roll out with these arguments")
    return chosen


def predecessor(config: PartitionConfig) -> PartitionConfig | None:
    """The active partition before this one in the cascade."""
    active = list(load_registry().partitions.values())
    index = [c.partition.value for c in active].index(config.partition.value)
    return active[index - 1] if index > 0 else None


class Rollout:
    """One run of the cascade; each method is a named step."""

    def __init__(self, args: argparse.Namespace, evidence_dir: Path, env: dict[str, str]) -> None:
        self.args = args
        self.evidence_dir = evidence_dir
        self.env = env
        self.records: list[Record] = []
        self.verified: set[str] = set()

    def _run(self, record: Record, step: str, argv: list[str]) -> subprocess.CompletedProcess:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, *argv], cwd=REPO, env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        seconds = round(time.monotonic() - started, 2)
        record.steps.append({"step": step, "exit": result.returncode, "seconds": seconds})
        print(f"{record.stack}: {step:<10} exit {result.returncode}  {seconds:6.1f}s", file=sys.stderr)
        return result

    def fail(self, record: Record, step: str, result: subprocess.CompletedProcess) -> None:
        self.write_evidence(record)
        failed_checks = [c for c in record.checks if c.get("status") != "PASS"]
        if failed_checks:
            what = "; ".join(f"{c.get('id')} {c.get('check')}: {c.get('detail')}" for c in failed_checks[:3])
        else:
            lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
            what = ([line for line in lines if ": error: " in line] or lines[-1:] or ["no output"])[-1].strip()
        raise ArdaMailError(
            f"{record.partition}: {step} failed (exit {result.returncode}): {redact(what)}; "
            f"fix it, then resume with: python tools/rollout.py --from {record.partition}"
            + (" --yes" if self.args.yes else "")
        )

    def check_entry(self, config: PartitionConfig) -> list[dict]:
        """Before a partition: its predecessor verified, its gates recorded."""
        before = predecessor(config)
        if before is not None and before.partition.value not in self.verified:
            check = self.verify(Record(before.partition.value, "", "", "", before.stack_name), before, step="verify")
            if check.returncode != 0:
                raise Stopped(
                    f"{config.partition.value}: not started: its predecessor {before.partition.value} is not verified; "
                    f"roll it out first: python tools/rollout.py --from {before.partition.value}"
                )
            self.verified.add(before.partition.value)
        recorded = read_gates()
        gates = []
        for gate in config.requires_gates:
            found = [g for g in recorded if g.get("gate") == gate]
            if not found:
                raise Stopped(
                    f"{config.partition.value}: not started: gate {gate!r} is not recorded; when it is passed, run: "
                    f"python tools/rollout.py --record-gate {gate} --by <who> --note <evidence>, then resume with: "
                    f"python tools/rollout.py --from {config.partition.value}"
                )
            gates.append(found[-1])
        return gates

    def confirm(self, config: PartitionConfig) -> None:
        """Between partitions: the operator says go (or --yes)."""
        if self.args.yes:
            return
        if not sys.stdin.isatty():
            raise NotConfirmed(
                f"{config.partition.value}: not started without a terminal or --yes; resume with: "
                f"python tools/rollout.py --from {config.partition.value}"
            )
        if not ask_yes(f"Roll out {config.stack_name} in account {config.infrastructure.account_id}?"):
            raise NotConfirmed(
                f"{config.partition.value}: not started (answered no); resume with: "
                f"python tools/rollout.py --from {config.partition.value}"
            )

    def verify(self, record: Record, config: PartitionConfig, step: str = "verify") -> subprocess.CompletedProcess:
        argv = ["tools/verify_partition_mail.py", config.infrastructure.name, config.partition.value, "--json"]
        argv += ["--wait", f"{self.args.wait:g}"] + (["--resolver", self.args.resolver] if self.args.resolver else [])
        return self._run(record, step, argv)

    def roll(self, config: PartitionConfig) -> Record:
        """pre-flight → plan → deploy → verify → record, for one partition."""
        infra, partition = config.infrastructure.name, config.partition.value
        record = Record(
            partition, infra, config.infrastructure.account_id, config.infrastructure.region, config.stack_name
        )
        record.gates = self.check_entry(config)
        deploy = ["deploy.py", infra, partition]
        result = self._run(record, "pre-flight", [*deploy, "--preflight"])
        if result.returncode != 0:
            self.fail(record, "pre-flight", result)
        result = self._run(record, "plan", [*deploy, "--plan", "--json"])
        if result.returncode != 0:
            self.fail(record, "plan", result)
        record.plan = json.loads(result.stdout or "{}")
        no_change = not record.plan.get("changes") and not record.plan.get("drift")
        if not no_change:
            result = self._run(record, "deploy", [*deploy, "--yes"])
            if result.returncode != 0:
                self.fail(record, "deploy", result)
        result = self.verify(record, config)
        if result.stdout.strip().startswith("{"):
            record.checks = json.loads(result.stdout).get("checks", [])
        if result.returncode != 0:
            self.fail(record, "verify", result)
        record.verified = True
        self.verified.add(partition)
        record.exports = read_exports(config)
        self.write_evidence(record)
        return record

    def write_evidence(self, record: Record) -> None:
        """The partition's JSON record and its Markdown report."""
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        document = {
            "partition": record.partition,
            "infrastructure": record.infrastructure,
            "target": {"account": record.account, "region": record.region, "stack": record.stack},
            "verified": record.verified,
            "change_set": record.plan.get("change_set", ""),
            "plan": record.plan,
            "exports": record.exports,
            "checks": record.checks,
            "gates": record.gates,
            "steps": record.steps,
            "tool": {"version": tool_version(), "commit": git_commit()},
            "written_at": _now(),
        }
        base = self.evidence_dir / f"{record.stack}"
        base.with_suffix(".json").write_text(redact(json.dumps(document, indent=2)) + "\n", encoding="utf-8")
        base.with_suffix(".md").write_text(redact(markdown(document)), encoding="utf-8")
        if record not in self.records:
            self.records.append(record)


def read_exports(config: PartitionConfig) -> dict[str, str]:
    """The stack's exports, for the evidence."""
    from tools.lib.aws_session import BOTO_CONFIG, open_session
    from tools.lib.deployer import Deployer

    session = open_session(None, config.infrastructure.region, config.stack_name)
    return dict(Deployer(session.client("cloudformation", config=BOTO_CONFIG), config.stack_name).exports())


def markdown(document: dict) -> str:
    """The evidence as a report fit for the Postmark compliance reply and the sign-off table."""
    target = document["target"]
    lines = [
        f"# {target['stack']}: rollout evidence",
        "",
        f"- Partition: {document['partition']} ({document['infrastructure']}), account {target['account']}, "
        f"region {target['region']}",
        f"- Verified: {'yes' if document['verified'] else 'NO'}",
        f"- Change set: {document['change_set'] or '(none: no changes)'}",
        f"- Tool: {document['tool']['version']} at commit {document['tool']['commit']}",
        f"- Written: {document['written_at']}",
        "",
        "## Verification",
        "",
        "| ID | check | result | detail |",
        "|---|---|---|---|",
    ]
    for check in document["checks"]:
        detail = str(check.get("detail", "")).replace("|", "\\|")
        lines.append(f"| {check.get('id')} | {check.get('check')} | {check.get('status')} | {detail} |")
    lines += ["", "## Gates", ""]
    lines += [
        f"- {g['gate']}: by {g['by']} at {g['at']} ({g.get('note') or 'no note'})" for g in document["gates"]
    ] or ["- none required"]
    lines += ["", "## Exports", ""] + [f"- `{k}` = `{v}`" for k, v in sorted(document["exports"].items())]
    changes = (document.get("plan") or {}).get("changes") or []
    lines += ["", "## Changes deployed", ""] + [
        f"- {c['action']} {c['logical_id']} ({c['resource_type']})" for c in changes
    ] or ["- none"]
    lines += ["", "## Steps", ""] + [f"- {s['step']}: exit {s['exit']} in {s['seconds']} s" for s in document["steps"]]
    lines += ["", "Sign-off row: | Verification: every check PASS | V-PART-003..011 | this report | | |", ""]
    return "\n".join(lines)


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
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    """Entry point: one error line and an exit code."""
    args = parse_args(argv)
    setup_logging(args.debug)
    try:
        if args.record_gate:
            entry = record_gate(args.record_gate, args.by, args.note)
            print(f"gate {entry['gate']} recorded by {entry['by']} at {entry['at']} ({gates_path()})")
            return EXIT_OK
        chosen = cascade(args)
        root = Path(os.environ.get("ROLLOUT_EVIDENCE_ROOT") or EVIDENCE_ROOT)
        evidence_dir = args.evidence_dir or root / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        rollout = Rollout(args, evidence_dir, dict(os.environ))
        try:
            for index, config in enumerate(chosen):
                if index:
                    rollout.confirm(config)
                rollout.roll(config)
                print(f"{config.stack_name}: deployed and verified; evidence in {evidence_dir}")
        finally:
            if args.json:
                print(
                    json.dumps({"evidence_dir": str(evidence_dir), "partitions": [r.__dict__ for r in rollout.records]})
                )
        return EXIT_OK
    except ArdaMailError as exc:
        return report_error("rollout", exc)
    except Exception as exc:  # noqa: BLE001 - the one top-level handler: one line, never a traceback
        return report_unexpected("rollout", exc)


if __name__ == "__main__":
    sys.exit(main())
