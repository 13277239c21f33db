"""Register a partition's mail domain with Postmark and show the DNS it needs.

    python tools/register_partition_mail_signature.py <infrastructure> <partition> [--json] [--debug]

Resolves the partition's Postmark account token from 1Password (``op read``),
registers ``<partition>.ardamails.com`` with Postmark if it is not yet (with the
Return-Path ``pm-bounces.<domain>``), and prints the DKIM and Return-Path records
to publish. Idempotent: running it again changes nothing. It never creates a
Postmark Server or Sender Signature.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from the checkout

from instances.registry import PartitionConfig, load_registry  # noqa: E402
from tools.lib import op_resolver  # noqa: E402
from tools.lib.cli import report_error, report_unexpected  # noqa: E402
from tools.lib.errors import ArdaMailError  # noqa: E402
from tools.lib.logger import setup_logging  # noqa: E402
from tools.lib.postmark_client import PostmarkClient  # noqa: E402
from tools.lib.registration import Registration, register_domain  # noqa: E402

LOG = logging.getLogger("register")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_CODES = """exit codes:
  0  registered (or already registered); the records to publish were printed
  1  1Password or Postmark failed (the message says which and what to do)
  2  bad arguments, unknown infrastructure, inactive partition or bad instance config"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: two positional arguments."""
    parser = argparse.ArgumentParser(
        prog="register_partition_mail_signature.py",
        description="Register a partition's mail domain with Postmark and print the DNS records it needs.",
        epilog=EXIT_CODES
        + "\n\nenvironment:\n  POSTMARK_API_URL  Postmark API base URL (default https://api.postmarkapp.com)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("infrastructure", help="e.g. Alpha002")
    parser.add_argument("partition", help="dev, stage, demo or prod")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--debug", action="store_true", help="verbose logs and tracebacks (secrets stay redacted)")
    return parser.parse_args(argv)


def register(config: PartitionConfig) -> Registration:
    """Resolve the token and register the partition's domain: the step deploy.py reuses."""
    LOG.info("%s: resolving the Postmark token (op read %s)", config.stack_name, config.postmark_token_ref)
    token = op_resolver.resolve(config.postmark_token_ref)
    return register_domain(PostmarkClient(token), config.mail_domain)


def format_table(config: PartitionConfig, registration: Registration) -> str:
    """The records to publish as an aligned table, with the verification state."""
    rows = [("HOST", "TYPE", "VALUE")] + [(r["host"], r["type"], r["value"]) for r in registration.records()]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}" for row in rows]
    state = "registered now" if registration.created else "already registered"
    if registration.return_path_updated:
        state += ", Return-Path corrected"
    head = (
        f"{config.stack_name}: {registration.domain} {state} with Postmark (domain ID {registration.domain_id}); "
        f"DKIM verified: {_yes(registration.dkim_verified)}, "
        f"Return-Path verified: {_yes(registration.return_path_verified)}"
    )
    if not registration.dkim_keys:
        lines.append("(Postmark has no DKIM key for this domain yet)")
    return "\n".join([head, *lines])


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def main(argv: list[str] | None = None) -> int:
    """Entry point: one error line and an exit code; --debug adds the traceback."""
    args = parse_args(argv)
    setup_logging(args.debug)
    config = None
    try:
        config = load_registry().lookup(args.infrastructure, args.partition)
        registration = register(config)
    except ArdaMailError as exc:
        return report_error("register", exc, config.stack_name if config else None)
    except Exception as exc:  # noqa: BLE001 - the one top-level handler: one redacted line, never a traceback
        return report_unexpected("register", exc, config.stack_name if config else None)
    if args.json:
        print(json.dumps({"stack": config.stack_name, **registration.to_dict()}, indent=2, sort_keys=True))
    else:
        print(format_table(config, registration))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
