"""Prove that a deployed partition's mail domain works: DNS as intended, Postmark verified.

    python tools/verify_partition_mail.py <infrastructure> <partition>
        [--resolver IP[:PORT]] [--wait SECONDS] [--no-postmark] [--json] [--profile P] [--region R] [--debug]

The `dig` checks and Postmark's verdict in one command (``tools.lib.verify``). Each
row carries its V-check ID from docs/verification.md, PASS or FAIL, and one line
saying what was expected and what was found. Exit 0 only when every check passes.
Like a deploy, it first makes sure the AWS credentials and every endpoint it reads
from are the configured account's (``tools.lib.aws_account``): a stack of the same
name in another account proves nothing.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from the checkout

from instances.registry import load_registry  # noqa: E402
from tools.lib import aws_account, frame  # noqa: E402
from tools.lib.aws_session import open_session  # noqa: E402
from tools.lib.clock import REAL, Clock  # noqa: E402
from tools.lib.errors import UsageError  # noqa: E402
from tools.lib.exits import Exit  # noqa: E402
from tools.lib.postmark_client import BASE_URL_ENV, DEFAULT_BASE_URL  # noqa: E402
from tools.lib.targets import target_of  # noqa: E402
from tools.lib.verify import Dns, verify  # noqa: E402

COMMAND = frame.Command(
    name="verify",
    prog="verify_partition_mail.py",
    description="Check a deployed partition's mail DNS and Postmark's verification.",
    exits={
        Exit.OK: "every check passed",
        Exit.FAILED: "at least one check failed, or AWS / 1Password / Postmark could not be read",
        Exit.REFUSED: "the AWS credentials are not the configured account's, or the AWS endpoints are split",
    },
    aws=True,
    environment={BASE_URL_ENV: f"Postmark API base URL (default {DEFAULT_BASE_URL})"},
)


def add_arguments(parser) -> None:
    """verify's own arguments."""
    frame.add_target(parser)
    parser.add_argument("--resolver", metavar="IP[:PORT]", help="send every DNS query to this server")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="retry failed DNS checks this long")
    parser.add_argument("--no-postmark", action="store_true", help="DNS only; DKIM expected from the stack")


def check(args) -> None:
    """Values argparse cannot check by itself."""
    if not args.wait >= 0:
        raise UsageError(f"--wait must be zero or more seconds, got: {args.wait:g}")
    if args.resolver:
        host, _, port = args.resolver.partition(":")
        try:
            ipaddress.ip_address(host)
            if port and not 0 < int(port) < 65536:
                raise ValueError
        except ValueError:
            raise UsageError(f"--resolver must be IP[:PORT] such as 127.0.0.1:5353, got: {args.resolver!r}") from None


def run_verify(run: frame.Run, clock: Clock = REAL) -> int:
    """The checks, as a table (or the JSON document); exit 0 only when every one passed."""
    args = run.args
    config = load_registry().lookup(args.infrastructure, args.partition)
    run.where = config.stack_name
    run.out.document["target"] = target_of(config)
    region = config.infrastructure.region
    if args.region and args.region != region:
        raise UsageError(
            f"--region must be the instance config's region {region!r} for {config.stack_name}, got: {args.region!r}"
        )
    session = open_session(args.profile, region, config.stack_name)
    aws_account.check_session_account(session, config, "verify", ("cloudformation", "route53"))
    checks = verify(config, session, Dns(args.resolver), wait=args.wait, postmark=not args.no_postmark, clock=clock)
    failed = sum(not c.passed for c in checks)
    rows = [("ID", "CHECK", "RESULT", "DETAIL")] + [(c.id, c.check, c.status, c.detail) for c in checks]
    run.out.table(None, rows, indent="")
    run.out.line(f"{config.stack_name}: {len(checks) - failed}/{len(checks)} checks passed")
    run.out.document.update(
        {"stack": config.stack_name, "checks": [asdict(c) for c in checks], "outcome": "failed" if failed else "passed"}
    )
    return Exit.FAILED if failed else Exit.OK


def main(argv: list[str] | None = None, *, clock: Clock = REAL) -> int:
    """Entry point: the frame's one error line and exit code; ``clock`` is the seam tests use."""
    return frame.run(COMMAND, add_arguments, lambda run: run_verify(run, clock), argv, check=check)


if __name__ == "__main__":
    sys.exit(main())
