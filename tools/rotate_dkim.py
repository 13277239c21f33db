"""Start a DKIM rotation of a partition's mail domain with Postmark.

    python tools/rotate_dkim.py <infrastructure> <partition> [--json] [--debug]

Resolves the partition's Postmark account token from 1Password (``op read``) and
asks Postmark for a new DKIM key (``POST /domains/{id}/rotatedkim``). Postmark keeps
signing with the current key until the new one is verified in DNS, so this changes
nothing in DNS by itself: it prints the new pending key and the commands that
publish it (``deploy.py``) and let Postmark verify it (``verify_partition_mail.py``).
A rotation that is already pending (Postmark's ErrorCode 505) is reported and is
not an error.
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
from tools.lib.logger import redact, setup_logging  # noqa: E402
from tools.lib.postmark_client import PostmarkClient  # noqa: E402
from tools.lib.registration import Rotation, rotate_dkim  # noqa: E402

LOG = logging.getLogger("rotate")
EXIT_OK = 0
EXIT_CODES = """exit codes:
  0  rotation started, or one was already pending (nothing changed); the pending key was printed
  1  1Password or Postmark failed, or the domain is not registered (the message says what to do)
  2  bad arguments, unknown infrastructure, inactive partition or bad instance config"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: two positional arguments."""
    parser = argparse.ArgumentParser(
        prog="rotate_dkim.py",
        description="Start a DKIM key rotation of a partition's mail domain with Postmark.",
        epilog=EXIT_CODES
        + "\n\nenvironment:\n  POSTMARK_API_URL  Postmark API base URL (default https://api.postmarkapp.com)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("infrastructure", help="e.g. Alpha002")
    parser.add_argument("partition", help="dev, stage, demo or prod")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--debug", action="store_true", help="verbose logs and tracebacks (secrets stay redacted)")
    return parser.parse_args(argv)


def next_steps(config: PartitionConfig) -> list[str]:
    """The runbook commands that finish the rotation, in order."""
    infra, partition = config.infrastructure.name, config.partition.value
    return [
        f"python deploy.py {infra} {partition}",
        f"python tools/verify_partition_mail.py {infra} {partition} --wait 600",
    ]


def format_text(config: PartitionConfig, rotation: Rotation) -> str:
    """What happened, the pending key, and what to run next."""
    key = rotation.pending_key
    state = "started" if rotation.started else "already pending (Postmark ErrorCode 505); nothing changed"
    lines = [
        f"{config.stack_name}: DKIM rotation of {config.mail_domain} {state}",
        f"  pending key: {key.host} TXT {key.value}",
        "  Postmark keeps signing with the current key until it verifies this one in DNS.",
        "next:",
        *(f"  {command}" for command in next_steps(config)),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point: one error line and an exit code; --debug adds the traceback."""
    args = parse_args(argv)
    setup_logging(args.debug)
    config = None
    try:
        config = load_registry().lookup(args.infrastructure, args.partition)
        LOG.info("%s: resolving the Postmark token (op read %s)", config.stack_name, config.postmark_token_ref)
        client = PostmarkClient(op_resolver.resolve(config.postmark_token_ref))
        rotation = rotate_dkim(client, config.mail_domain)
    except ArdaMailError as exc:
        return report_error("rotate", exc, config.stack_name if config else None)
    except Exception as exc:  # noqa: BLE001 - the one top-level handler: one redacted line, never a traceback
        return report_unexpected("rotate", exc, config.stack_name if config else None)
    if args.json:
        document = {
            "stack": config.stack_name,
            "domain": config.mail_domain,
            "started": rotation.started,
            "pending_key": rotation.pending_key.__dict__,
            "dkim_update_status": rotation.registration.dkim_update_status,
            "next": next_steps(config),
        }
        print(redact(json.dumps(document, indent=2, sort_keys=True)))
    else:
        print(redact(format_text(config, rotation)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
