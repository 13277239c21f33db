"""Patch 7: a template's record set is fully qualified, and its CREATE refuses an existing one.

``AWS::Route53::RecordSet`` creation appends a second record set when one of the
same name and type exists, and stores the name without Route 53's trailing dot
(so a later API UPSERT of that name adds a duplicate). Route 53 refuses a CREATE of an existing record set
(``InvalidChangeBatch: Tried to create resource record set [name='…', type='…']
but it already exists``, see the ChangeResourceRecordSets API reference), and
CloudFormation creates record sets with CREATE, so the resource fails. Here it
fails the same way.
"""

from __future__ import annotations

from moto.route53.models import RecordSet, route53_backends
from moto.utilities.utils import get_partition

from tools.rehearsal.moto_compat import route53
from tools.rehearsal.moto_compat.patching import wrap


class RecordSetExists(Exception):
    """Route 53's InvalidChangeBatch for a CREATE of an existing record set."""


def create_from_cloudformation_json(
    original, cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
):
    # Route 53 keeps names fully qualified; moto kept CloudFormation's without the dot, so an
    # API UPSERT of the same name added a second record set instead of replacing it.
    properties = {**cloudformation_json["Properties"]}
    properties["Name"] = route53.fully_qualified(properties["Name"])
    backend = route53_backends[account_id][get_partition(region_name)]
    zone_name = properties.get("HostedZoneName")
    zone = backend.get_hosted_zone_by_name(zone_name) if zone_name else None
    zone = zone or backend.get_hosted_zone(properties["HostedZoneId"])
    existing = [{"Name": r.name, "Type": r.type, "SetIdentifier": r.set_identifier} for r in zone.rrsets]
    refusal = route53.create_refusal(existing, properties)
    if refusal:
        raise RecordSetExists(refusal)
    cloudformation_json = {**cloudformation_json, "Properties": properties}
    return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)


def install() -> None:
    wrap(RecordSet, "create_from_cloudformation_json", create_from_cloudformation_json, kind="classmethod")
