"""Remember the ID Postmark gave a stack's mail domain, so the next run can ask for the domain by ID.

Finding a domain by name takes two round trips that wait for each other (``GET /domains``,
paged, then ``GET /domains/{id}``); with the ID remembered, one (``GET /domains/{id}``).
A remembered ID is a hint, never a fact: ``registration.read_domain`` takes Postmark's
answer for it only when Postmark, asked with this run's token, names the domain there;
anything else (a 404, another name, any error or doubt) costs the listing, as without a
hint. So an entry that is stale, or that someone else wrote, can cost a round trip and
nothing more: no MAC is needed (unlike ``tools.lib.lint_cache``, whose entries let a
template deploy).

An entry is keyed by the Postmark API's base URL, the domain and the CloudFormation stack
ID it was learnt for (a stack deleted and created again learns it anew, and a rehearsal
world's Postmark is another URL), and holds the ID alone: never the token, nothing derived
from it. Entries live in this user's cache folder (``tools.lib.user_cache``), written 0600
in a folder nobody else may enter; one that cannot be read or written costs a round trip.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from tools.lib import user_cache
from tools.lib.output import write_file

LOG = logging.getLogger(__name__)
FOLDER = "postmark-domains"
MAX_ENTRY_BYTES = 1024
MAX_ID = 2**53 - 1  # Postmark's IDs are JSON numbers: whole, positive, carried exactly


def entry_name(api: str, domain: str, stack_id: str) -> str:
    """The entry's file name: the SHA-256 of what it is keyed by."""
    digest = hashlib.sha256()
    for part in (api.rstrip("/"), domain.lower(), stack_id):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


class DomainIds:
    """The remembered IDs in one folder (by default this user's cache folder ``postmark-domains``)."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder

    @property
    def folder(self) -> Path:
        return self._folder or user_cache.folder(FOLDER)

    def recall(self, api: str, domain: str, stack_id: str) -> int | None:
        """The ID remembered for ``domain`` of the stack ``stack_id`` at ``api``; None when there is none to use."""
        if not user_cache.private(self.folder):
            return None
        raw = user_cache.read_small(self.folder / entry_name(api, domain, stack_id), MAX_ENTRY_BYTES)
        try:
            found = json.loads(raw)["id"] if raw else None
        except (ValueError, TypeError, KeyError, RecursionError):  # RecursionError: "[[[...", nested past the parser
            return None
        if isinstance(found, bool) or not isinstance(found, int) or not 0 < found <= MAX_ID:
            return None
        return found

    def remember(self, api: str, domain: str, stack_id: str, domain_id: int) -> None:
        """Keep ``domain_id`` for next time (written only when it is not what is kept already); a folder that
        cannot be made private, or written, only costs the next run a round trip."""
        if self.recall(api, domain, stack_id) == domain_id:
            return
        folder = self.folder
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not user_cache.private(folder):
                LOG.debug("Postmark domain ID not remembered: %s is not a private folder", folder)
                return
            record = {"domain": domain.lower(), "id": int(domain_id)}
            write_file(folder / entry_name(api, domain, stack_id), json.dumps(record), mode=0o600)
        except OSError as exc:
            LOG.debug("Postmark domain ID not remembered (%s)", exc)
