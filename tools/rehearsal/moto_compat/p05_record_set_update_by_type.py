"""Patch 5: updating a record set deletes its own name and type only.

Updating one ``AWS::Route53::RecordSet`` deletes every record of that name
(e.g. the zone's own NS/SOA and the SPF TXT at the apex): it deletes by name and
type here, as Route 53 does.
"""

from __future__ import annotations

from moto.route53.models import RecordSet


def update_from_cloudformation_json(
    cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
):
    original_resource.delete(account_id, region_name)
    return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)


def install() -> None:
    RecordSet.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)
