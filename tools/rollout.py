"""Roll a change out through the cascade: dev → stage → demo → prod, gated on verification.

    python tools/rollout.py [PARTITION ...] [--through PARTITION] [--from PARTITION]
                            [--yes] [--evidence-dir DIR] [--wait SECONDS] [--resolver IP[:PORT]]
                            [--heartbeat SECONDS]
                            [--profile P] [--region R] [--json]
    python tools/rollout.py --record-gate NAME --by WHO [--note TEXT]

Walks the active partitions in cascade order (each in the infrastructure its
instance file names), or only those named: pre-flight → plan → deploy → verify →
evidence, stopping at the first failure with the command that resumes
(``tools.lib.rollout``). Between partitions the operator confirms on a terminal;
``--yes`` is for CI. Evidence goes to ``--evidence-dir`` (default
``rollout-evidence/<UTC timestamp>/``, git-ignored; never under /proc, /sys or
/dev); gates to ``docs/rollout-gates.json``, which counts once committed (reviewed
like code). Ctrl-C or SIGTERM during a step is passed to that step; the rollout
waits for its last line (at most 120 s), quotes it, writes the partition's evidence
and exits 130 or 143.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from the checkout

from instances.registry import PARTITION_IDS, load_registry  # noqa: E402
from tools.lib import frame  # noqa: E402
from tools.lib.clock import REAL, Clock  # noqa: E402
from tools.lib.errors import UsageError  # noqa: E402
from tools.lib.exits import Exit  # noqa: E402
from tools.lib.rollout.cascade import (  # noqa: E402
    DEFAULT_WAIT,
    HEARTBEAT_BOUNDS,
    HEARTBEAT_SECONDS,
    WAIT_BOUNDS,
    ProcessRunner,
    Rollout,
    Runner,
    Settings,
    cascade,
)
from tools.lib.rollout.evidence import Evidence, git_commit, rehearsal_endpoint  # noqa: E402
from tools.lib.rollout.gates import GATES_PATH, Gates  # noqa: E402

EVIDENCE_ROOT = REPO / "rollout-evidence"

COMMAND = frame.Command(
    name="rollout",
    prog="rollout.py",
    description="Roll the mail stack out partition by partition: dev, stage, demo, prod.",
    exits={
        Exit.OK: "every partition deployed and verified (or a gate recorded)",
        Exit.FAILED: "a step failed: the message names the partition, the step, and the command that resumes",
        Exit.USAGE: "bad arguments (--wait or --heartbeat out of bounds), unknown partition, bad instance config; an "
        "evidence folder that cannot be written, or under /proc, /sys or /dev",
        Exit.REFUSED: "a gate the next partition requires is not committed in docs/rollout-gates.json, or its "
        "predecessor is not verified; the gates file is broken (not JSON, incomplete entries, not a regular file, "
        "over 1 MB); the live stack drifted (the plan's rows are quoted); "
        "the AWS credentials or endpoints are not a partition's account's",
        Exit.NOT_DONE: "not confirmed between partitions (no terminal and no --yes, or answered no)",
    },
    aws=True,
    environment={"ROLLOUT_EVIDENCE_ROOT": f"where evidence folders are written (default {EVIDENCE_ROOT})"},
)


def add_arguments(parser) -> None:
    """rollout's own arguments."""
    parser.add_argument("partitions", nargs="*", metavar="PARTITION", help="only these (default: every active one)")
    parser.add_argument("--through", metavar="PARTITION", help="stop after this partition")
    parser.add_argument("--from", dest="start", metavar="PARTITION", help="resume at this partition")
    parser.add_argument("--yes", action="store_true", help="no confirmation between partitions (CI)")
    parser.add_argument(
        "--evidence-dir", type=Path, help="where to write the evidence (default rollout-evidence/<UTC>)"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"verify --wait (default {DEFAULT_WAIT:g}, {WAIT_BOUNDS[0]:g} to {WAIT_BOUNDS[1]:g})",
    )
    parser.add_argument("--resolver", metavar="IP[:PORT]", help="verify --resolver (e.g. the rehearsal world's)")
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=HEARTBEAT_SECONDS,
        metavar="SECONDS",
        help=f"a line at least this often while a step runs (default {HEARTBEAT_SECONDS:g}, "
        f"{HEARTBEAT_BOUNDS[0]:g} to {HEARTBEAT_BOUNDS[1]:g})",
    )
    parser.add_argument("--record-gate", metavar="NAME", help="record that the named gate is passed, and exit")
    parser.add_argument("--by", metavar="WHO", help="with --record-gate: who passed it")
    parser.add_argument("--note", default="", metavar="TEXT", help="with --record-gate: e.g. the ticket or reply")


def check(args) -> None:
    """Values argparse cannot check by itself."""
    for value in [*args.partitions, args.through, args.start]:
        if value is not None and value not in PARTITION_IDS:
            raise UsageError(f"partition must be one of {', '.join(PARTITION_IDS)}, got: {value!r}")
    if args.record_gate and not args.by:
        raise UsageError("--record-gate needs --by WHO")
    for option, value, (low, high) in (
        ("--wait", args.wait, WAIT_BOUNDS),
        ("--heartbeat", args.heartbeat, HEARTBEAT_BOUNDS),
    ):
        if not (math.isfinite(value) and low <= value <= high):
            raise UsageError(f"{option} must be {low:g} to {high:g} seconds, got: {value:g}")


def evidence_root() -> Path:
    """Where evidence folders are written."""
    return Path(os.environ.get("ROLLOUT_EVIDENCE_ROOT") or EVIDENCE_ROOT)


def settings_of(args) -> Settings:
    """The run's options, as the rollout and its resume command carry them."""
    return Settings(
        args.yes,
        args.wait,
        args.resolver,
        args.heartbeat,
        args.profile,
        args.region,
        partitions=tuple(args.partitions),
        through=args.through,
        evidence_dir=args.evidence_dir,
    )


def run_rollout(run: frame.Run, checkout: Path, runner: Runner | None, clock: Clock) -> int:
    """Record a gate, or walk the cascade."""
    args, out = run.args, run.out
    registry = load_registry(checkout / "instances")
    gates = Gates(checkout, [gate for config in registry.partitions.values() for gate in config.requires_gates])
    if args.record_gate:
        when = f"{clock.now():%Y-%m-%dT%H:%M:%SZ}"
        entry = gates.record(args.record_gate, args.by, args.note, when, git_commit(checkout))
        out.result(
            f"gate {entry['gate']} recorded by {entry['by']} at {entry['at']} in {GATES_PATH}; commit it for review "
            f"(git add {GATES_PATH}; git commit): the rollout counts committed gates only"
        )
        out.document.update({"gate": entry, "outcome": "gate-recorded", "file": GATES_PATH})
        return Exit.OK
    chosen = cascade(registry, args.partitions, args.start, args.through)
    evidence_dir = args.evidence_dir or evidence_root() / f"{clock.now():%Y%m%dT%H%M%SZ}"
    settings = settings_of(args)
    evidence = Evidence(
        evidence_dir, rehearsal=rehearsal_endpoint(os.environ), commit=git_commit(checkout), clock=clock
    )
    runner = runner or ProcessRunner(settings, dict(os.environ), cwd=checkout)
    rollout = Rollout(registry, settings, gates, evidence, runner, run.journal, clock=clock, out=out)
    out.document["evidence_dir"] = str(evidence_dir)
    rollout.prepare(chosen)  # before the first step: evidence folder, gates file, accounts
    try:
        for index, config in enumerate(chosen):
            run.where = config.partition.value
            if index:
                rollout.confirm(config)
            record = rollout.roll(config)
            done = "deployed and verified" if record.executed else "verified (no changes to deploy)"
            out.result(f"{config.stack_name}: {done}; evidence in {evidence_dir}")
    finally:
        out.document["partitions"] = list(rollout.documents.values())  # each as its evidence file has it
    out.document["outcome"] = "verified"
    return Exit.OK


def main(
    argv: list[str] | None = None, *, checkout: Path = REPO, runner: Runner | None = None, clock: Clock = REAL
) -> int:
    """Entry point: the frame's one error line and exit code; ``checkout``, ``runner`` and ``clock`` are the seams
    tests use (the checkout whose instances, gates and commands the rollout uses; what runs its steps; time)."""
    return frame.run(COMMAND, add_arguments, lambda run: run_rollout(run, checkout, runner, clock), argv, check=check)


if __name__ == "__main__":
    sys.exit(main())
