"""Prove that a deployed partition's mail domain works: DNS as intended, Postmark verified.

    python tools/verify_partition_mail.py <infrastructure> <partition>
        [--resolver IP[:PORT]] [--wait SECONDS] [--no-postmark] [--json] [--profile P] [--region R] [--debug]

The `dig` checks and Postmark's verdict in one command (``tools.lib.verify``). Each
row carries its V-check ID from docs/verification.md, PASS or FAIL, and one line
saying what was expected and what was found. Exit 0 only when every check passes;
otherwise the last line is ``verify: error: <stack>: N check(s) failed: <which>; <the
next step>``, every command in it runnable as printed (in a rehearsal world, with the
world's ``--resolver``). ``--wait`` is 0 to 3600 seconds; it bounds the whole wait, each
DNS query and Postmark call in it included (a wait shorter than one look is one look).
Like a deploy, it first makes sure the AWS credentials and every endpoint it reads
from are the configured account's (``tools.lib.aws.account``): a stack of the same
name in another account proves nothing.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from the checkout

from instances.registry import load_registry  # noqa: E402
from tools.lib import frame  # noqa: E402
from tools.lib.aws.clients import Aws  # noqa: E402
from tools.lib.clock import REAL, Clock  # noqa: E402
from tools.lib.errors import UsageError  # noqa: E402
from tools.lib.exits import Exit  # noqa: E402
from tools.lib.next_commands import MAX_WAIT_SECONDS, REHEARSAL_RESOLVER_ENV, NextCommands, rehearsal_resolver  # noqa: E402
from tools.lib.postmark_client import BASE_URL_ENV, DEFAULT_BASE_URL  # noqa: E402
from tools.lib.targets import target_of  # noqa: E402
from tools.lib.verify import DNS_LOOK_SECONDS, POSTMARK_LOOK_SECONDS, Dns, check_wait, failure, verify  # noqa: E402

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
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"retry failed checks up to this long, 0 to {MAX_WAIT_SECONDS:g} (default 0: one look); every DNS "
        f"query and Postmark call of the wait ends by then, or, when it is shorter than one look, within one look "
        f"({DNS_LOOK_SECONDS:g} s of DNS, {POSTMARK_LOOK_SECONDS:g} s of Postmark)",
    )
    parser.add_argument("--no-postmark", action="store_true", help="DNS only; DKIM expected from the stack")


def check(args) -> None:
    """Values argparse cannot check by itself."""
    check_wait(args.wait)
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
    aws = Aws.open(args.profile, region, config.stack_name)
    aws.check_account(config, "verify", ("cloudformation", "route53"))
    dns = Dns(args.resolver)
    commands = NextCommands.for_run(
        config.infrastructure.name,
        config.partition.value,
        resolver=args.resolver,
        profile=args.profile,
        region=args.region,
        no_postmark=args.no_postmark,
    )
    if not args.resolver and rehearsal_resolver():
        run.out.warning(
            f"{config.stack_name}: this shell is a rehearsal world, but --resolver was not given: DNS goes to "
            f"{dns.describe()}, not to the world's DNS (${REHEARSAL_RESOLVER_ENV})"
        )
    checks = verify(config, aws, dns, wait=args.wait, postmark=not args.no_postmark, clock=clock, commands=commands)
    failed = failure(checks, commands, dns, args.wait)
    rows = [("ID", "CHECK", "RESULT", "DETAIL")] + [(c.id, c.check, c.status, c.detail) for c in checks]
    run.out.table(None, rows, indent="")
    passed = sum(c.passed for c in checks)
    run.out.result(f"{config.stack_name}: {passed}/{len(checks)} checks passed")
    run.out.document.update(
        {
            "stack": config.stack_name,
            "checks": [c.to_dict() for c in checks],
            "outcome": "failed" if failed else "passed",
        }
    )
    if failed is not None:
        raise failed
    return Exit.OK


def main(argv: list[str] | None = None, *, clock: Clock = REAL) -> int:
    """Entry point: the frame's one error line and exit code; ``clock`` is the seam tests use."""
    return frame.run(COMMAND, add_arguments, lambda run: run_verify(run, clock), argv, check=check)


if __name__ == "__main__":
    sys.exit(main())
