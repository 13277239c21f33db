"""Patch 17: Route 53 change batches: their limits, exact DELETEs, and Route 53's SOA.

Route 53 change batches: moto takes any number of records and characters in one
``ChangeResourceRecordSets`` and accepts a DELETE only for a record set it has a change
journal for (not one CloudFormation created, nor one "someone" wrote another way).
Route 53 ("Quotas"): at most 1,000 ``ResourceRecord`` elements and 32,000 characters of
``Value`` per request, an UPSERT counting twice; a DELETE of any existing record set
given its exact TTL and values, refused otherwise ("... but it was not found", "... but
the values provided do not match the current values"). Here all of it is so. moto's
SOA value is a printed Python dict; here it is Route 53's
(``<primary name server>. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400``).
"""

from __future__ import annotations

from moto.route53.exceptions import Route53ClientError
from moto.route53.models import Route53Backend

from tools.rehearsal.moto_compat.patching import wrap
from tools.rehearsal.moto_compat.route53 import same_name

# Route 53's limits on one ChangeResourceRecordSets request (Route 53 Developer Guide, "Quotas": at
# most 1,000 ResourceRecord elements and 32,000 characters in Value elements; an UPSERT counts twice).
MAX_BATCH_RECORDS = 1000
MAX_BATCH_CHARACTERS = 32000


class InvalidChangeBatch(Route53ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidChangeBatch", message)


def values(record_set) -> list[str]:
    raw = record_set.get("ResourceRecords") if isinstance(record_set, dict) else record_set.records
    return [str(r.get("Value", "")) if isinstance(r, dict) else str(r) for r in raw or []]


def change_resource_record_sets(original, self, zoneid, change_list):
    weight = [2 if c["Action"] == "UPSERT" else 1 for c in change_list]
    records = sum(w * len(values(c["ResourceRecordSet"])) for w, c in zip(weight, change_list, strict=True))
    characters = sum(
        w * sum(len(v) for v in values(c["ResourceRecordSet"])) for w, c in zip(weight, change_list, strict=True)
    )
    if records > MAX_BATCH_RECORDS:
        raise InvalidChangeBatch(f"Number of records limit of {MAX_BATCH_RECORDS} exceeded.")
    if characters > MAX_BATCH_CHARACTERS:
        raise InvalidChangeBatch(f"Number of characters in Value elements limit of {MAX_BATCH_CHARACTERS} exceeded.")
    zone = self.get_hosted_zone(zoneid)
    exact = []
    for item in change_list:
        wanted = item["ResourceRecordSet"]
        if item["Action"] != "DELETE" or zone.rr_changes.has_insert_or_update(wanted):
            continue
        name, kind = wanted["Name"], wanted["Type"]
        found = [r for r in zone.rrsets if same_name(r.name, name) and r.type == kind]
        label = f"[name='{name.rstrip('.').lower()}.', type='{kind}']"
        if not found:
            raise InvalidChangeBatch(f"Tried to delete resource record set {label} but it was not found")
        current = found[0]
        if str(current.ttl) != str(wanted.get("TTL")) or sorted(values(current)) != sorted(values(wanted)):
            raise InvalidChangeBatch(
                f"Tried to delete resource record set {label} but the values provided do not match the current values"
            )
        exact.append(item)
    rest = [item for item in change_list if item not in exact]
    if rest:
        original(self, zoneid, rest)
    for item in exact:  # validated above: cannot fail half-way
        zone.rrsets = [r for r in zone.rrsets if not (same_name(r.name, item["ResourceRecordSet"]["Name"])
                                                      and r.type == item["ResourceRecordSet"]["Type"])]  # fmt: skip


def create_hosted_zone(original, self, *args, **kwargs):
    zone = original(self, *args, **kwargs)
    for record_set in zone.rrsets:
        if record_set.type == "SOA":  # moto nests the value in a dict, then prints the dict
            primary = zone.delegation_set.name_servers[0].rstrip(".")
            record_set.records = [f"{primary}. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"]
    return zone


def install() -> None:
    wrap(Route53Backend, "change_resource_record_sets", change_resource_record_sets)
    wrap(Route53Backend, "create_hosted_zone", create_hosted_zone)
