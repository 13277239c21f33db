"""Route 53's rules as the patches apply them: plain functions over record sets as dicts (no moto).

A record set is ``{"Name", "Type", "TTL", "ResourceRecords", "SetIdentifier"}`` as the API
writes it (values plain or as ``{"Value": ...}``); a change is ``{"Action", "ResourceRecordSet"}``.
A ``*_refusal`` function answers Route 53's error message, or None when Route 53 accepts.
"""

from __future__ import annotations

from typing import Any

# Route 53 Developer Guide, "Quotas": one ChangeResourceRecordSets request takes at most 1,000
# ResourceRecord elements and 32,000 characters in Value elements (an UPSERT counts twice);
# a hosted zone takes at most 10 tags.
MAX_BATCH_RECORDS = 1000
MAX_BATCH_CHARACTERS = 32000
MAX_ZONE_TAGS = 10


def same_name(a: str, b: str) -> bool:
    """Whether two DNS names are one (case and the trailing dot do not matter)."""
    return a.lower().rstrip(".") == b.lower().rstrip(".")


def fully_qualified(name: str) -> str:
    """A name as Route 53 keeps it: with the trailing dot."""
    return name.rstrip(".") + "."


def values(record_set: Any) -> list[str]:
    """A record set's values as text (a dict as the API writes it, or moto's record set)."""
    raw = record_set.get("ResourceRecords") if isinstance(record_set, dict) else record_set.records
    return [str(r.get("Value", "")) if isinstance(r, dict) else str(r) for r in raw or []]


def batch_size(changes: list[dict]) -> tuple[int, int]:
    """A change batch's (ResourceRecord elements, characters of Value), as Route 53 counts them."""
    records = characters = 0
    for change in changes:
        weight = 2 if change["Action"] == "UPSERT" else 1
        texts = values(change["ResourceRecordSet"])
        records += weight * len(texts)
        characters += weight * sum(len(text) for text in texts)
    return records, characters


def batch_refusal(changes: list[dict]) -> str | None:
    """Route 53's refusal of a change batch over its limits."""
    records, characters = batch_size(changes)
    if records > MAX_BATCH_RECORDS:
        return f"Number of records limit of {MAX_BATCH_RECORDS} exceeded."
    if characters > MAX_BATCH_CHARACTERS:
        return f"Number of characters in Value elements limit of {MAX_BATCH_CHARACTERS} exceeded."
    return None


def delete_refusal(wanted: dict, current: dict | None) -> str | None:
    """Route 53's refusal of a DELETE of ``wanted``: ``current`` is the record set of its name and type, if any.

    A DELETE names the record set exactly: its TTL and every value (in any order).
    """
    label = f"[name='{wanted['Name'].rstrip('.').lower()}.', type='{wanted['Type']}']"
    if current is None:
        return f"Tried to delete resource record set {label} but it was not found"
    if str(current.get("TTL")) != str(wanted.get("TTL")) or sorted(values(current)) != sorted(values(wanted)):
        return f"Tried to delete resource record set {label} but the values provided do not match the current values"
    return None


def create_refusal(existing: list[dict], wanted: dict) -> str | None:
    """Route 53's refusal of a CREATE of ``wanted`` in a zone holding ``existing`` (same name, type and set ID)."""
    for record_set in existing:
        if (
            same_name(record_set["Name"], wanted["Name"])
            and record_set["Type"] == wanted["Type"]
            and record_set.get("SetIdentifier") == wanted.get("SetIdentifier")
        ):
            return (
                f"[Tried to create resource record set [name='{fully_qualified(wanted['Name'])}', "
                f"type='{wanted['Type']}'] but it already exists]"
            )
    return None


def soa_value(primary_name_server: str) -> str:
    """The SOA value Route 53 writes for a new zone."""
    return f"{fully_qualified(primary_name_server)} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"


def zone_tags(template_tags: list[dict] | None, stack_tags: dict | None) -> dict[str, str]:
    """A template zone's tags: the stack's (CloudFormation propagates them; aws: system tags do not count),
    then the zone's own ``HostedZoneTags``."""
    propagated = {k: v for k, v in (stack_tags or {}).items() if not k.startswith("aws:")}
    return {**propagated, **{t["Key"]: t["Value"] for t in template_tags or []}}


def zone_tags_refusal(tags: dict[str, str]) -> str | None:
    """Route 53's refusal of more tags than a zone takes."""
    if len(tags) > MAX_ZONE_TAGS:
        return f"InvalidInput: a hosted zone takes at most {MAX_ZONE_TAGS} tags, got {len(tags)}: {', '.join(tags)}"
    return None
