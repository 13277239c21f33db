"""Patch 13: a template's hosted zone is fully qualified, tagged, limited and deleted.

A hosted zone created from a template: moto drops its ``HostedZoneTags`` and names it
without the trailing dot, so ``ListHostedZonesByName`` never finds it. Route 53 tags the
zone (``ListTagsForResource`` shows them, with the stack's tags CloudFormation propagates)
and always names zones fully qualified, and refuses more than 10 tags on a zone; moto
drops the zone's ``HostedZoneConfig.Comment`` (Route 53's ``GetHostedZone`` shows it, and
drift detection compares it) and never deletes a template zone (a stack deletion or a
rollback leaves it). Here all of it is as Route 53 and CloudFormation do it.
"""

from __future__ import annotations

from moto.cloudformation import cloudformation_backends
from moto.route53.models import FakeZone, route53_backends
from moto.utilities.utils import get_partition

from tools.rehearsal.moto_compat import route53
from tools.rehearsal.moto_compat.patching import wrap


def create_from_cloudformation_json(
    original, cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
):
    stack = cloudformation_backends[account_id][region_name].stacks.get(kwargs.get("StackId", ""))
    own = cloudformation_json.get("Properties", {}).get("HostedZoneTags")
    tags = route53.zone_tags(own, getattr(stack, "tags", None))
    refusal = route53.zone_tags_refusal(tags)
    if refusal:
        raise ValueError(refusal)
    zone = original(cls, route53.fully_qualified(resource_name), cloudformation_json, account_id, region_name, **kwargs)
    zone.comment = (cloudformation_json.get("Properties", {}).get("HostedZoneConfig") or {}).get("Comment")
    if tags:
        backend = route53_backends[account_id][get_partition(region_name)]
        backend.change_tags_for_resource(
            "hostedzone", zone.resource_id, [{"Key": k, "Value": v} for k, v in tags.items()], []
        )
    return zone


def delete(self, account_id, region_name) -> None:
    # moto has no deletion for a template zone (a stack or a rollback never removed it).
    route53_backends[account_id][get_partition(region_name)].delete_hosted_zone(self.id)


def install() -> None:
    wrap(FakeZone, "create_from_cloudformation_json", create_from_cloudformation_json, kind="classmethod")
    FakeZone.delete = delete
