"""Rehearse the runbook on this machine: the whole world on 127.0.0.1, no real AWS, Postmark or 1Password.

    python tools/rehearse.py up [--env-file PATH] [--infrastructure NAME]
    python tools/rehearse.py runbook <infrastructure> <partition>

``up`` starts the AWS emulator (moto with the project's CloudFormation patches),
the Postmark stand-in (DKIM lifecycle; it verifies by looking records up in the
world's DNS), a DNS server answering from the emulator's zones, and the stand-in
``op``; prints the shell environment and writes it to ``--env-file`` as
``export NAME=value`` lines once every server answers; then waits until Ctrl-C or
SIGTERM and stops everything.

``runbook`` builds a fresh world and runs the README's runbook commands in order,
as subprocesses, printing step, exit code and seconds; it exits 0 only when every
step did what the runbook says. Needs the test extra: pip install -e '.[test]'.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from the checkout

from tools.lib.cli import report_error, report_unexpected  # noqa: E402
from tools.lib.errors import ArdaMailError, UsageError  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
READY_TIMEOUT_SECONDS = 60


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Two commands: up and runbook."""
    parser = argparse.ArgumentParser(prog="rehearse.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the world and keep it running until Ctrl-C or SIGTERM")
    up.add_argument("--env-file", type=Path, help="also write the environment here as export lines")
    up.add_argument("--infrastructure", help="whose account the credentials are (default: the first one)")
    runbook = commands.add_parser("runbook", help="run the README's runbook in a fresh world, step by step")
    runbook.add_argument("infrastructure", help="e.g. Alpha002")
    runbook.add_argument("partition", help="dev, stage, demo or prod")
    return parser.parse_args(argv)


def export_lines(env: dict[str, str]) -> str:
    """POSIX shell lines that reproduce ``env`` (and drop a profile that would override it)."""
    lines = ["unset AWS_PROFILE"] + [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Readers see the whole file or none of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.chmod(0o600)  # it holds (fake) credentials
    partial.replace(path)


def up(args: argparse.Namespace) -> int:
    """Start the world, publish its environment, wait for a stop signal, stop cleanly."""
    from tools.rehearsal.world import World

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    world = World()
    try:
        world.start()
        env = world.env(args.infrastructure)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not world.answers():
            if time.monotonic() > deadline or stop.wait(0.2):
                raise ArdaMailError(f"the world did not answer within {READY_TIMEOUT_SECONDS}s; nothing was written")
        text = export_lines(env)
        sys.stdout.write(text)
        if args.env_file:
            write_atomically(args.env_file, text)
        infra = world.infrastructure(args.infrastructure)
        print(
            f"# rehearsal world up: AWS {world.moto_url}, Postmark {world.postmark_url}, "
            f"DNS {env['REHEARSAL_RESOLVER']}; credentials of {infra.name} ({infra.account_id})",
            file=sys.stderr,
        )
        print("# in another terminal: source the env file, then follow the runbook; Ctrl-C stops", file=sys.stderr)
        sys.stdout.flush()
        stop.wait()
    finally:
        world.stop()
        if args.env_file and args.env_file.exists():
            args.env_file.unlink()
    print("# rehearsal world stopped", file=sys.stderr)
    return EXIT_OK


@dataclass
class Step:
    """One runbook command and what the runbook says it does."""

    name: str
    argv: list[str]
    expect: str = ""  # text its stdout must contain
    code: int = 0


def runbook_steps(infra: str, partition: str, resolver: str, stack: str) -> list[Step | str]:
    """The README's runbook, in order; a plain string is a change the world makes by itself."""
    deploy = [sys.executable, "deploy.py", infra, partition]
    verify = [
        sys.executable,
        "tools/verify_partition_mail.py",
        infra,
        partition,
        "--resolver",
        resolver,
        "--wait",
        "60",
    ]
    rotate = [sys.executable, "tools/rotate_dkim.py", infra, partition]
    return [
        Step("pre-flight", [*deploy, "--preflight"], "pre-flight"),
        Step("dry-run", [*deploy, "--dry-run"], f"stack {stack}"),
        Step("plan", [*deploy, "--plan"], "plan only; change set deleted, nothing executed"),
        Step("deploy", [*deploy, "--yes"], f"{stack}: CREATE_COMPLETE"),
        Step("deploy again (no changes)", [*deploy, "--yes"], f"{stack}: no changes"),
        Step("verify (Postmark verifies the first key)", verify, "checks passed"),
        Step("rotate DKIM", rotate, "DKIM rotation of"),
        Step("deploy (publish the pending key)", [*deploy, "--yes"], f"{stack}: UPDATE_COMPLETE"),
        Step("verify (Postmark verifies the new key)", verify, "checks passed"),
        Step("deploy again (keys keep their slots)", [*deploy, "--yes"], f"{stack}: no changes"),
        "postmark: the revoked key becomes safe to remove",
        Step("deploy (remove the revoked key)", [*deploy, "--yes"], f"{stack}: UPDATE_COMPLETE"),
        Step("verify", verify, "checks passed"),
        Step("take down (--destroy)", [*deploy, "--destroy", "--yes"], f"{stack}: DELETE_COMPLETE"),
    ]


def runbook(args: argparse.Namespace) -> int:
    """Run every runbook step in a fresh world; a table; exit 0 only if all did what they should."""
    from instances.registry import load_registry
    from tools.rehearsal.world import World, delegated

    config = load_registry().lookup(args.infrastructure, args.partition)  # usage errors before any server
    rows: list[tuple[str, str, float, str]] = []
    failed = None
    with World() as world:
        env = {**os.environ, **world.env(args.infrastructure), "PYTHONDONTWRITEBYTECODE": "1"}
        for key in [k for k in env if k.startswith(("GITHUB_", "OP_STANDIN_SECRET")) and k != "OP_STANDIN_SECRETS"]:
            env.pop(key)
        env.pop("AWS_PROFILE", None)
        for step in runbook_steps(
            config.infrastructure.name, config.partition.value, env["REHEARSAL_RESOLVER"], config.stack_name
        ):
            if isinstance(step, str):
                domain = world.postmark.only_domain()
                world.postmark.make_revoked_key_safe(domain["ID"])
                rows.append((step, "-", 0.0, "ok"))
                continue
            started = time.monotonic()
            result = subprocess.run(
                step.argv, cwd=REPO, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600
            )
            seconds = time.monotonic() - started
            ok = result.returncode == step.code and step.expect in result.stdout
            rows.append((step.name, str(result.returncode), seconds, "ok" if ok else "FAILED"))
            if not ok:
                failed = (step, result)
                break
        if failed is None and delegated(config.infrastructure.parent_zone_name, config.mail_domain):
            gone = Step("take down: the delegation leaves the parent zone", [])
            failed = (gone, subprocess.CompletedProcess([], 1, "", f"{config.mail_domain} is still delegated"))
            rows.append((gone.name, "-", 0.0, "FAILED"))
    _print_table(rows)
    if failed is not None:
        step, result = failed
        detail = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no output"])[-1]
        raise ArdaMailError(
            f"runbook step {step.name!r} did not do what the runbook says (exit {result.returncode}): {detail}"
        )
    print(f"{config.stack_name}: every runbook step did what the runbook says")
    return EXIT_OK


def _print_table(rows: list[tuple[str, str, float, str]]) -> None:
    width = max(len(r[0]) for r in rows) if rows else 4
    print(f"{'STEP':<{width}}  EXIT  SECONDS  RESULT")
    for name, code, seconds, outcome in rows:
        print(f"{name:<{width}}  {code:>4}  {seconds:7.1f}  {outcome}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: one error line and an exit code."""
    args = parse_args(argv)
    try:
        try:
            import moto  # noqa: F401
        except ImportError:
            raise UsageError("the rehearsal world needs the test extra: pip install -e '.[test]'") from None
        return up(args) if args.command == "up" else runbook(args)
    except ArdaMailError as exc:
        return report_error("rehearse", exc)
    except Exception as exc:  # noqa: BLE001 - the one top-level handler: one line, never a traceback
        return report_unexpected("rehearse", exc)


if __name__ == "__main__":
    sys.exit(main())
