"""Start a DKIM rotation of a partition's mail domain with Postmark.

    python tools/rotate_dkim.py <infrastructure> <partition> [--json] [--debug]

Resolves the partition's Postmark account token from 1Password (``op read``) and
asks Postmark for a new DKIM key (``POST /domains/{id}/rotatedkim``). Postmark keeps
signing with the current key until the new one is verified in DNS, so this changes
nothing in DNS by itself: it prints the new pending key and the commands that
publish it (``deploy.py``) and let Postmark verify it (``verify_partition_mail.py``;
in a rehearsal world, with the world's ``--resolver``, so it runs as printed).
A rotation that is already pending (Postmark's ErrorCode 505) is reported and is
not an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from the checkout

from instances.registry import PartitionConfig, load_registry  # noqa: E402
from tools.lib import frame  # noqa: E402
from tools.lib.clock import REAL, Clock  # noqa: E402
from tools.lib.exits import Exit  # noqa: E402
from tools.lib.next_commands import NextCommands  # noqa: E402
from tools.lib.postmark_client import BASE_URL_ENV, DEFAULT_BASE_URL, PostmarkClient  # noqa: E402
from tools.lib.registration import rotate_dkim  # noqa: E402

COMMAND = frame.Command(
    name="rotate",
    prog="rotate_dkim.py",
    description="Start a DKIM key rotation of a partition's mail domain with Postmark.",
    exits={
        Exit.OK: "rotation started, or one was already pending (nothing changed); the pending key was printed",
        Exit.FAILED: "1Password or Postmark failed, or the domain is not registered (the message says what to do)",
    },
    environment={BASE_URL_ENV: f"Postmark API base URL (default {DEFAULT_BASE_URL})"},
)


def next_steps(config: PartitionConfig) -> list[str]:
    """The runbook commands that finish the rotation, in order (a rehearsal world's verify gets its --resolver)."""
    commands = NextCommands.for_run(config.infrastructure.name, config.partition.value)
    return [commands.deploy(), commands.verify()]


def rotate(run: frame.Run, clock: Clock = REAL) -> int:
    """Ask Postmark for a new key (journaled), print it and the commands that finish the rotation."""
    config = load_registry().lookup(run.args.infrastructure, run.args.partition)
    run.where = config.stack_name
    client = PostmarkClient.resolved(config.postmark_token_ref, config.stack_name, clock)
    rotation = rotate_dkim(client, config.mail_domain, run.journal)
    key = rotation.pending_key
    state = "started" if rotation.started else "already pending (Postmark ErrorCode 505); nothing changed"
    out = run.out
    out.result(f"{config.stack_name}: DKIM rotation of {config.mail_domain} {state}")
    out.result(f"  pending key: {key.host} TXT {key.value}")
    out.result("  Postmark keeps signing with the current key until it verifies this one in DNS.")
    out.result("next:")
    for command in next_steps(config):
        out.result(f"  {command}")
    out.document.update(
        {
            "stack": config.stack_name,
            "domain": config.mail_domain,
            "started": rotation.started,
            "pending_key": rotation.pending_key.__dict__,
            "dkim_update_status": rotation.registration.dkim_update_status,
            "next": next_steps(config),
            "outcome": "started" if rotation.started else "already-pending",
        }
    )
    return Exit.OK


def main(argv: list[str] | None = None, *, clock: Clock = REAL) -> int:
    """Entry point: the frame's one error line and exit code; ``clock`` is the seam tests use."""
    return frame.run(COMMAND, frame.add_target, lambda run: rotate(run, clock), argv)


if __name__ == "__main__":
    sys.exit(main())
