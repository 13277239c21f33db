"""Register a partition's mail domain with Postmark and show the DNS it needs.

    python tools/register_partition_mail_signature.py <infrastructure> <partition> [--json] [--debug]

Resolves the partition's Postmark account token from 1Password (``op read``),
registers ``<partition>.ardamails.com`` with Postmark if it is not yet (with the
Return-Path ``pm-bounces.<domain>``), and prints the DKIM and Return-Path records
to publish. Idempotent: running it again changes nothing. It never creates a
Postmark Server or Sender Signature. This is deploy.py's step 8 on its own.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from the checkout

from instances.registry import PartitionConfig, load_registry  # noqa: E402
from tools.lib import frame  # noqa: E402
from tools.lib.clock import REAL, Clock  # noqa: E402
from tools.lib.exits import Exit  # noqa: E402
from tools.lib.postmark_client import BASE_URL_ENV, DEFAULT_BASE_URL, PostmarkClient  # noqa: E402
from tools.lib.registration import Registration, register_domain  # noqa: E402

COMMAND = frame.Command(
    name="register",
    prog="register_partition_mail_signature.py",
    description="Register a partition's mail domain with Postmark and print the DNS records it needs.",
    exits={
        Exit.OK: "registered (or already registered); the records to publish were printed",
        Exit.FAILED: "1Password or Postmark failed (the message says which and what to do)",
    },
    environment={BASE_URL_ENV: f"Postmark API base URL (default {DEFAULT_BASE_URL})"},
)


def records_table(config: PartitionConfig, registration: Registration) -> tuple[str, list[tuple[str, str, str]]]:
    """The title line (what happened, the verification state) and the records to publish, header first."""
    state = "registered now" if registration.created else "already registered"
    if registration.return_path_updated:
        state += ", Return-Path corrected"
    title = (
        f"{config.stack_name}: {registration.domain} {state} with Postmark (domain ID {registration.domain_id}); "
        f"DKIM verified: {_yes(registration.dkim_verified)}, "
        f"Return-Path verified: {_yes(registration.return_path_verified)}"
    )
    rows = [("HOST", "TYPE", "VALUE")] + [(r["host"], r["type"], r["value"]) for r in registration.records()]
    return title, rows


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def register(run: frame.Run, clock: Clock = REAL) -> int:
    """Resolve the token, register the domain (journaled), print what DNS must publish."""
    config = load_registry().lookup(run.args.infrastructure, run.args.partition)
    run.where = config.stack_name
    client = PostmarkClient.resolved(config.postmark_token_ref, config.stack_name, clock)
    registration = register_domain(client, config.mail_domain, run.journal)
    title, rows = records_table(config, registration)
    run.out.table(title, rows)
    if not registration.dkim_keys:
        run.out.result("(Postmark has no DKIM key for this domain yet)")
    run.out.document.update({"stack": config.stack_name, **registration.to_dict()})
    run.out.document["outcome"] = "registered" if registration.created else "already-registered"
    return Exit.OK


def main(argv: list[str] | None = None, *, clock: Clock = REAL) -> int:
    """Entry point: the frame's one error line and exit code; ``clock`` is the seam tests use."""
    return frame.run(COMMAND, frame.add_target, lambda run: register(run, clock), argv)


if __name__ == "__main__":
    sys.exit(main())
