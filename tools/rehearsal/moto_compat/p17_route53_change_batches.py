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

from tools.rehearsal.moto_compat import route53
from tools.rehearsal.moto_compat.patching import wrap


class InvalidChangeBatch(Route53ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidChangeBatch", message)


def _current(zone, wanted: dict) -> dict | None:
    """The zone's record set of ``wanted``'s name and type, as the API writes it."""
    for record_set in zone.rrsets:
        if route53.same_name(record_set.name, wanted["Name"]) and record_set.type == wanted["Type"]:
            return {"TTL": record_set.ttl, "ResourceRecords": record_set.records}
    return None


def change_resource_record_sets(original, self, zoneid, change_list):
    refusal = route53.batch_refusal(change_list)
    if refusal:
        raise InvalidChangeBatch(refusal)
    zone = self.get_hosted_zone(zoneid)
    # moto deletes only record sets it has a change journal for: the others are deleted here.
    exact = [
        item
        for item in change_list
        if item["Action"] == "DELETE" and not zone.rr_changes.has_insert_or_update(item["ResourceRecordSet"])
    ]
    for item in exact:
        refusal = route53.delete_refusal(item["ResourceRecordSet"], _current(zone, item["ResourceRecordSet"]))
        if refusal:
            raise InvalidChangeBatch(refusal)
    rest = [item for item in change_list if item not in exact]
    if rest:
        original(self, zoneid, rest)
    for item in exact:  # validated above: cannot fail half-way
        wanted = item["ResourceRecordSet"]
        zone.rrsets = [
            r for r in zone.rrsets if not (route53.same_name(r.name, wanted["Name"]) and r.type == wanted["Type"])
        ]


def create_hosted_zone(original, self, *args, **kwargs):
    zone = original(self, *args, **kwargs)
    for record_set in zone.rrsets:
        if record_set.type == "SOA":  # moto nests the value in a dict, then prints the dict
            record_set.records = [route53.soa_value(zone.delegation_set.name_servers[0])]
    return zone


def install() -> None:
    wrap(Route53Backend, "change_resource_record_sets", change_resource_record_sets)
    wrap(Route53Backend, "create_hosted_zone", create_hosted_zone)
