"""Rehearse the runbook on this machine: the whole world on 127.0.0.1, no real AWS, Postmark or 1Password.

    python tools/rehearse.py up [--env-file PATH] [--infrastructure NAME] [--apply-seconds S] [--latency-ms N] [--json]
    python tools/rehearse.py safe-to-remove <infrastructure> <partition> [--json]
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
deadline, Ctrl-C while following) can be rehearsed. ``--latency-ms N`` makes every
AWS and Postmark request wait N milliseconds before it is answered, as a round trip
to AWS does (each request on its own: concurrent calls overlap), so a command's
wall time counts its calls.

``safe-to-remove``, in a shell that sourced a running world's env file, makes the
world's Postmark report the partition's revoked DKIM key ``SafeToRemoveRevokedKeyFromDNS``
(what Postmark decides on its own schedule, some time after a rotation's new key was
verified), so the rotation's last step can be rehearsed by hand: verify's V-PART-022
row then says to deploy, the deploy removes the record, verify passes. It prints those
commands, with the world's ``--resolver``.

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
from tools.lib import frame, op_resolver  # noqa: E402
from tools.lib.clock import REAL  # noqa: E402
from tools.lib.errors import ArdaMailError, UsageError  # noqa: E402
from tools.lib.exits import Exit  # noqa: E402
from tools.lib.next_commands import REHEARSAL_RESOLVER_ENV, NextCommands, rehearsal_resolver  # noqa: E402
from tools.lib.output import file_destination_problem, write_file  # noqa: E402
from tools.lib.postmark_client import BASE_URL_ENV, PostmarkClient, resolve_base_url  # noqa: E402
from tools.lib.registration import lookup_registration  # noqa: E402
from tools.rehearsal.runbook import Row, run_runbook  # noqa: E402
from tools.rehearsal.world import World, delegated  # noqa: E402

READY_TIMEOUT_SECONDS = 60
MAX_APPLY_SECONDS = 3600
MAX_LATENCY_MS = 2000

COMMAND = frame.Command(
    name="rehearse",
    prog="rehearse.py",
    description="Rehearse the runbook on this machine: the whole world on 127.0.0.1.",
    exits={
        Exit.OK: "runbook: every step did what the runbook says; safe-to-remove: the revoked key is reported safe "
        "to remove (now, or already)",
        Exit.FAILED: "runbook: a step did not (it is named); up: the world did not start; safe-to-remove: no revoked "
        "key yet, or the world's Postmark could not be reached",
        Exit.USAGE: "bad arguments, unknown infrastructure or partition, the test extra is not installed, or "
        "safe-to-remove outside a running world's environment",
    },
)


def add_arguments(parser) -> None:
    """Three commands: up, safe-to-remove (in a running world) and runbook."""
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
    up.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="N",
        help=f"every AWS and Postmark request waits N milliseconds before it is answered, as a round trip to AWS "
        f"costs (each request on its own: concurrent requests overlap); 0 to {MAX_LATENCY_MS} (default 0: none)",
    )
    safe = commands.add_parser(
        "safe-to-remove",
        parents=shared,
        help="in a running world (its env file sourced): make its Postmark report the partition's revoked DKIM key "
        "SafeToRemoveRevokedKeyFromDNS, as Postmark does on its own schedule after a rotation (rotation step 4)",
    )
    frame.add_target(safe)
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
    world.set_latency(args.latency_ms / 1000)  # after the accounts' fixed resources were made: they start at once
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
                "latency_ms": args.latency_ms,
            }
        )
        out.emit_document()
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    print(
        f"# rehearsal world up: AWS {world.moto_url}, Postmark {world.postmark_url}, "
        f"DNS {env[REHEARSAL_RESOLVER_ENV]}; credentials of {infra.name} ({infra.account_id})"
        + (f"; every executed change set takes {args.apply_seconds:g}s" if args.apply_seconds else "")
        + (f"; every AWS and Postmark request waits {args.latency_ms:g} ms" if args.latency_ms else ""),
        file=sys.stderr,
    )
    print("# in another terminal: source the env file, then follow the runbook; Ctrl-C stops", file=sys.stderr)
    print(
        "# when a rotation's old key should become safe to remove (Postmark's SafeToRemoveRevokedKeyFromDNS): "
        "python tools/rehearse.py safe-to-remove <infrastructure> <partition>",
        file=sys.stderr,
    )
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
    run.out.result(f"{config.stack_name}: every runbook step did what the runbook says")
    return Exit.OK


def safe_to_remove(run: frame.Run) -> int:
    """The running world's Postmark reports the partition's revoked DKIM key safe to remove; the next commands."""
    config = load_registry().lookup(run.args.infrastructure, run.args.partition)
    run.where = config.stack_name
    resolver = rehearsal_resolver()
    if resolver is None or not resolve_base_url().startswith("http://"):
        raise UsageError(
            "safe-to-remove acts on a running rehearsal world: source the env file that "
            f"'python tools/rehearse.py up --env-file FILE' wrote ({REHEARSAL_RESOLVER_ENV}, AWS_ENDPOINT_URL and "
            f"{BASE_URL_ENV} on 127.0.0.1), then run it again"
        )
    from tools.rehearsal.postmark import mark_revoked_key_safe  # werkzeug: the test extra, checked before

    commands = NextCommands.for_run(config.infrastructure.name, config.partition.value)
    token = op_resolver.resolve(config.postmark_token_ref)  # the world's op answers it
    client = PostmarkClient(token, resolve_base_url(), sleep=REAL.sleep, clock=REAL.monotonic)
    registration = lookup_registration(client, config.mail_domain)
    if registration is None:
        raise ArdaMailError(
            f"{config.mail_domain} is not registered with the world's Postmark: run {commands.deploy()} first"
        )
    key = registration.removable_key or registration.key("revoked")
    if key is None:
        raise ArdaMailError(
            f"{config.mail_domain} has no revoked DKIM key: Postmark revokes the old key once it has verified a "
            f"rotation's new one: run python tools/rotate_dkim.py {config.infrastructure.name} "
            f"{config.partition.value}, then {commands.deploy()}, then {commands.verify()}"
        )
    already = registration.removable_key is not None
    if not already:
        with run.journal.attempt(
            f"SafeToRemoveRevokedKeyFromDNS of {config.mail_domain}",
            done=f"the world's Postmark now reports the revoked key {key.host} safe to remove",
            unsure=f"the world's Postmark may now report the revoked key {key.host} safe to remove",
        ):
            mark_revoked_key_safe(client.base_url, token, registration.domain_id)
    # The first verify must not wait: its V-PART-022 row fails until the deploy removes the record.
    steps = [commands.verify(0), commands.deploy(), commands.verify()]
    state = "was already reported" if already else "is now reported"
    run.out.result(
        f"{config.stack_name}: the revoked DKIM key {key.host} {state} safe to remove by the world's Postmark"
    )
    run.out.result("next (verify's V-PART-022 row says to deploy; the deploy removes the record):")
    for command in steps:
        run.out.result(f"  {command}")
    run.out.document.update(
        {
            "stack": config.stack_name,
            "domain": config.mail_domain,
            "revoked_key": key.__dict__,
            "outcome": "already-safe" if already else "marked-safe",
            "next": steps,
        }
    )
    return Exit.OK


def rehearse(run: frame.Run) -> int:
    """``up``, ``safe-to-remove`` or ``runbook``; all need the test extra (moto)."""
    try:
        import moto  # noqa: F401
    except ImportError:
        raise UsageError("the rehearsal world needs the test extra: pip install -e '.[test]'") from None
    return {"up": up, "safe-to-remove": safe_to_remove, "runbook": runbook}[run.args.command](run)


def check(args) -> None:
    """An --env-file is this run's own: a new file in an existing folder (stopping the world removes it)."""
    apply_seconds = getattr(args, "apply_seconds", 0.0)
    if not 0 <= apply_seconds <= MAX_APPLY_SECONDS:  # also refuses nan and inf
        raise UsageError(f"--apply-seconds must be 0 to {MAX_APPLY_SECONDS} seconds, got: {apply_seconds:g}")
    latency_ms = getattr(args, "latency_ms", 0.0)
    if not 0 <= latency_ms <= MAX_LATENCY_MS:  # also refuses nan and inf
        raise UsageError(f"--latency-ms must be 0 to {MAX_LATENCY_MS} milliseconds, got: {latency_ms:g}")
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
