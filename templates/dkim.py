"""DKIM keys as DNS TXT records: the 255-character split, and the slots that keep them still.

A TXT record holds one or more character-strings of at most 255 bytes each
(RFC 1035 §3.3.14); a 2048-bit DKIM key is longer than that. CloudFormation has no
intrinsic function that can cut a string, so the split happens here, in the
deployer, before the value becomes a stack parameter. The template's parameter
pattern (``TXT_RECORD_PATTERN``) then refuses any value that is not already a valid
sequence of quoted strings, so an unsplit key can never reach Route 53.

Slots: why a DKIM record never moves from one CloudFormation resource to another
--------------------------------------------------------------------------------
Postmark moves a key between *roles* without moving its DNS host: a new domain's
key is first ``DKIMPendingHost`` and, once verified, the same host becomes
``DKIMHost``; a rotation adds a pending key under a new selector, and on its
verification the old active key becomes ``DKIMRevokedHost`` (kept in DNS until
``SafeToRemoveRevokedKeyFromDNS``). Postmark's Domains API documents these fields
(https://postmarkapp.com/developer/api/domains-api#domain-details and #rotate-dkim).

A template with one resource per *role* (active, pending) moves the record from
one logical resource to another whenever a key changes role. CloudFormation
creates new resources before its cleanup phase deletes removed ones
(UPDATE_COMPLETE_CLEANUP_IN_PROGRESS), so the new resource's CREATE meets the
old resource's live record and Route 53 refuses it ("Tried to create resource
record set ... but it already exists"); the stack rolls back on every promotion.

So the template has ``DKIM_SLOTS`` role-less slots, each a selector/value
parameter pair and one conditional ``AWS::Route53::RecordSet``. ``assign_slots``
reads which selector each slot holds in the *deployed* stack and keeps every key
that is still needed in the slot it already has. Between two deploys a record
name therefore either stays in its resource (no change, or an in-place value
update: an UPSERT), leaves the stack (its slot empties: a delete in cleanup), or
arrives in a slot that held nothing or a key being dropped in the same update.
The last case is a replacement of that one resource: CloudFormation creates the
new name (which no other resource holds: keys keep their slots) and deletes the
old one in cleanup. No order of CloudFormation's steps can make two resources
claim one name. Three slots suffice: Postmark exposes at most an active, a
pending and a revoked key at once.
"""

from __future__ import annotations

import re

from templates.errors import DkimValueError

MAX_CHARACTER_STRING = 255
# Route 53 limit for one TXT record value, quotes and separators included.
MAX_TXT_RECORD_LENGTH = 4000
TXT_RECORD_PATTERN = r'^$|^"[^"\\]{1,255}"( "[^"\\]{1,255}")*$'
# A DKIM selector is one or more DNS labels (RFC 6376 §3.1: selector = sub-domain *("." sub-domain)):
# Postmark issued dotted ones to older domains ("20150316104110.pm"), its own recorded replies show.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
SELECTOR = rf"{_LABEL}(\.{_LABEL}){{0,7}}"
SELECTOR_PATTERN = rf"^$|^{SELECTOR}$"
_PRINTABLE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e ]+")  # printable ASCII but " and \


def txt_record_value(text: str) -> str:
    """Quote ``text`` as TXT character-strings of at most 255 characters each.

    ``"k=rsa;p=AAA..." "...BBB"`` — resolvers join the strings back without a
    separator, so the key is intact at the receiving end.
    """
    if not text:
        raise DkimValueError("a DKIM value must not be empty")
    if not _PRINTABLE.fullmatch(text):
        raise DkimValueError(
            "a DKIM value must be printable ASCII without quotes or backslashes, "
            f"got {len(text)} characters that are not"
        )
    chunks = [text[i : i + MAX_CHARACTER_STRING] for i in range(0, len(text), MAX_CHARACTER_STRING)]
    value = " ".join(f'"{chunk}"' for chunk in chunks)
    if len(value) > MAX_TXT_RECORD_LENGTH:
        raise DkimValueError(
            f"a DKIM value must fit one TXT record of {MAX_TXT_RECORD_LENGTH} characters, got {len(value)}"
        )
    return value


def join_txt_strings(record_value: str) -> str:
    """The text of a record value made by ``txt_record_value`` (strings joined)."""
    return "".join(re.findall(r'"([^"]*)"', record_value))


# Postmark exposes at most three keys at once: active, pending and revoked.
DKIM_SLOTS = 3


class SlotError(DkimValueError):
    """The keys Postmark needs cannot be placed in the template's slots."""


def assign_slots(
    wanted: list[tuple[str, str]], deployed: list[str], slots: int = DKIM_SLOTS
) -> list[tuple[str, str] | None]:
    """Place each wanted ``(selector, value)`` in a slot; ``deployed`` is each slot's current selector.

    A key whose selector a slot already holds stays there (compared case-insensitively,
    as DNS does); new keys take empty slots first, then slots whose key is being
    dropped. The result has one entry per slot: the key, or None for an empty slot.
    """
    if len(deployed) != slots:
        raise SlotError(f"the deployed stack must report {slots} DKIM slots, got {len(deployed)}")
    selectors = [selector.lower() for selector, _ in wanted]
    if len(set(selectors)) != len(selectors):
        raise SlotError(f"Postmark names one DKIM selector twice: {', '.join(selectors)}")
    if len(wanted) > slots:
        raise SlotError(f"Postmark needs {len(wanted)} DKIM keys published, the template has {slots} slots")
    current = [selector.lower() for selector in deployed]
    result: list[tuple[str, str] | None] = [None] * slots
    placed = set()
    for key in wanted:
        if key[0].lower() in current:
            result[current.index(key[0].lower())] = key
            placed.add(key[0].lower())
    empty = [i for i in range(slots) if not current[i]]
    freed = [i for i in range(slots) if current[i] and current[i] not in selectors]
    free = iter(empty + freed)
    for key in wanted:
        if key[0].lower() not in placed:
            result[next(free)] = key
    return result
