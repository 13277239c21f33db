"""Rehearse the runbook on this machine: the whole world on 127.0.0.1, no real AWS, Postmark or 1Password.

    python tools/rehearse.py up [--env-file PATH] [--infrastructure NAME] [--apply-seconds S] [--json]
    python tools/rehearse.py runbook <infrastructure> <partition> [--json]

``up`` starts the AWS emulator (moto with the project's CloudFormation patches),
the Postmark stand-in (DKIM lifecycle; it verifies by looking records up in the
world's DNS), a DNS server answering from the emulator's zones, and the stand-in
``op``; prints the shell environment (``--json``: as one JSON document) and writes
it to ``--env-file`` as ``export NAME=value`` lines once every server answers;
then runs until Ctrl-C or SIGTERM, when the frame's journal stops everything and
removes the env file (exit 130 or 143, the frame's codes for a signal).
``--apply-seconds S`` makes every executed change set stay ``*_IN_PROGRESS`` for S
seconds before its events and end appear, so a slow stack (the heartbeat, the
deadline, Ctrl-C while following) can be rehearsed.

``runbook`` builds a fresh world and runs the operator runbook's commands in order
(``tools.rehearsal.runbook``), printing step, exit code and seconds; it exits 0
only when every step did what the runbook says. Needs the test extra:
pip install -e '.[test]'.
"""

from __future__ import annotations

import shlex
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from the checkout

from instances.registry import load_registry  # noqa: E402
from tools.lib import frame  # noqa: E402
from tools.lib.errors import ArdaMailError, UsageError  # noqa: E402
from tools.lib.exits import Exit  # noqa: E402
from tools.lib.output import file_destination_problem, write_file  # noqa: E402
from tools.rehearsal.runbook import Row, run_runbook  # noqa: E402
from tools.rehearsal.world import World, delegated  # noqa: E402

READY_TIMEOUT_SECONDS = 60
MAX_APPLY_SECONDS = 3600

COMMAND = frame.Command(
    name="rehearse",
    prog="rehearse.py",
    description="Rehearse the runbook on this machine: the whole world on 127.0.0.1.",
    exits={
        Exit.OK: "runbook: every step did what the runbook says",
        Exit.FAILED: "runbook: a step did not (it is named); up: the world did not start",
        Exit.USAGE: "bad arguments, unknown infrastructure or partition, or the test extra is not installed",
    },
)


def add_arguments(parser) -> None:
    """Two commands: up and runbook."""
    commands = parser.add_subparsers(dest="command", required=True, parser_class=frame.Parser)
    shared = [frame.subcommand_options()]
    up = commands.add_parser("up", parents=shared, help="start the world and keep it running until Ctrl-C or SIGTERM")
    up.add_argument("--env-file", type=Path, help="also write the environment here as export lines")
    up.add_argument("--infrastructure", help="whose account the credentials are (default: the first one)")
    up.add_argument(
        "--apply-seconds",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="each executed change set stays *_IN_PROGRESS this long before its events and end appear, as a slow "
        "stack does on AWS: rehearse the heartbeat, --timeout and Ctrl-C while following (default 0: at once)",
    )
    runbook = commands.add_parser(
        "runbook", parents=shared, help="run docs/operator-runbook.md's commands in a fresh world, step by step"
    )
    frame.add_target(runbook)


def export_lines(env: dict[str, str]) -> str:
    """POSIX shell lines that reproduce ``env`` (and drop a profile that would override it)."""
    lines = ["unset AWS_PROFILE"] + [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def up(run: frame.Run) -> int:
    """Start the world (journaled: it is stopped on any exit), publish its environment, wait for a signal."""
    args, out = run.args, run.out
    world = World()
    env_file: Path | None = args.env_file
    run.journal.change(
        "the rehearsal world",
        undo=world.stop,
        undone="the rehearsal world was stopped",
        manual="the rehearsal world may still be running: stop its processes by hand",
    )
    infra = world.infrastructure(args.infrastructure)  # a usage error before any server starts
    from tools.rehearsal.moto_compat import CONTROLS

    CONTROLS.slow_execution = args.apply_seconds  # the emulator runs in this process (moto patch 10)
    world.start()
    env = world.env(infra.name)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not world.answers():
        if time.monotonic() > deadline:
            raise ArdaMailError(f"the world did not answer within {READY_TIMEOUT_SECONDS}s; nothing was written")
        time.sleep(0.2)
    text = export_lines(env)
    if env_file is not None:
        check(args)  # again: the file may have appeared while the world started
        write_file(env_file, text, mode=0o600, secret_free=False)  # fake credentials, for a shell to source
        run.journal.change(  # only a file this run wrote is removed when it stops
            str(env_file),
            undo=lambda: env_file.unlink(missing_ok=True),
            undone=f"{env_file} removed",
            manual=f"{env_file} points at servers that are gone: remove it",
        )
    if out.json_mode:
        out.document.update(
            {
                "command": "rehearse",
                "outcome": "up",
                "env": env,
                "env_file": str(env_file or ""),
                "apply_seconds": args.apply_seconds,
            }
        )
        out.emit_document()
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    print(
        f"# rehearsal world up: AWS {world.moto_url}, Postmark {world.postmark_url}, "
        f"DNS {env['REHEARSAL_RESOLVER']}; credentials of {infra.name} ({infra.account_id})"
        + (f"; every executed change set takes {args.apply_seconds:g}s" if args.apply_seconds else ""),
        file=sys.stderr,
    )
    print("# in another terminal: source the env file, then follow the runbook; Ctrl-C stops", file=sys.stderr)
    sys.stderr.flush()
    threading.Event().wait()  # until a signal: the frame unwinds the journal, which stops the world
    return Exit.OK  # pragma: no cover - only a signal ends the wait


def runbook(run: frame.Run) -> int:
    """Run every runbook step in a fresh world; a table; exit 0 only if all did what they should."""
    config = load_registry().lookup(run.args.infrastructure, run.args.partition)  # usage errors before any server
    run.where = config.stack_name
    with World() as world:
        rows, failed = run_runbook(world, config)
        if failed is None and delegated(config.infrastructure.parent_zone_name, config.mail_domain):
            failed = Row(
                "take down: the delegation leaves the parent zone",
                "-",
                0.0,
                "FAILED",
                f"{config.mail_domain} is still delegated",
            )
            rows.append(failed)
    rows_out = [("STEP", "EXIT", "SECONDS", "RESULT")] + [(r.step, r.exit, f"{r.seconds:.1f}", r.result) for r in rows]
    run.out.table(None, rows_out, indent="")
    run.out.document.update({"steps": [asdict(r) for r in rows], "outcome": "failed" if failed else "passed"})
    if failed is not None:
        raise ArdaMailError(
            f"runbook step {failed.step!r} did not do what the runbook says (exit {failed.exit}): {failed.detail}"
        )
    run.out.line(f"{config.stack_name}: every runbook step did what the runbook says")
    return Exit.OK


def rehearse(run: frame.Run) -> int:
    """``up`` or ``runbook``; both need the test extra (moto)."""
    try:
        import moto  # noqa: F401
    except ImportError:
        raise UsageError("the rehearsal world needs the test extra: pip install -e '.[test]'") from None
    return up(run) if run.args.command == "up" else runbook(run)


def check(args) -> None:
    """An --env-file is this run's own: a new file in an existing folder (stopping the world removes it)."""
    apply_seconds = getattr(args, "apply_seconds", 0.0)
    if not 0 <= apply_seconds <= MAX_APPLY_SECONDS:  # also refuses nan and inf
        raise UsageError(f"--apply-seconds must be 0 to {MAX_APPLY_SECONDS} seconds, got: {apply_seconds:g}")
    env_file = getattr(args, "env_file", None)
    if env_file is None:
        return
    if env_file.exists() or env_file.is_symlink():
        raise UsageError(f"--env-file must not exist yet (it is removed when the world stops), got: {str(env_file)!r}")
    problem = file_destination_problem(env_file)
    if problem:
        raise UsageError(f"--env-file must be a new file in an existing folder, got: {str(env_file)!r} ({problem})")


def main(argv: list[str] | None = None) -> int:
    """Entry point: the frame's one error line and exit code."""
    return frame.run(COMMAND, add_arguments, rehearse, argv, check=check)


if __name__ == "__main__":
    sys.exit(main())
