"""What earlier stacks of a partition retained, found and proved to be the partition's, and what still uses it.

``--destroy`` keeps the hosted zone and the webhook secret (DeletionPolicy Retain). Two
steps ask about them: the purge (``destroy``), before it deletes them, and the adoption
(``adoption``), before a new stack takes them in. Both use the same proofs:

- **Identity**: a zone is the partition's when it is the public zone of the mail domain and
  tagged with the partition's ``arda:infrastructure`` and ``arda:partition``; a secret when
  it lives in the target account and region, carries those tags, and its description names
  the mail domain (``zone_problem``, ``secret_problem``).
- **Claims**: nothing else may use it: no stack of the partition in any enabled region, no
  export naming the zone, and (asked of DNS) no delegation of the domain the caller does not
  expect (``stacks_claiming``, ``delegations``). A check that cannot answer refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.lib import threads
from tools.lib.aws.cloudformation import Stack
from tools.lib.delegation import delegated_name_servers
from tools.lib.deploy.context import Ctx
from tools.lib.errors import Refused


@dataclass(frozen=True)
class Retained:
    """What the partition's stacks retained: hosted zone IDs and webhook secret ARNs, identity checked."""

    zones: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"hosted zone {z}" for z in self.zones] + [f"webhook secret {s}" for s in self.secrets]
        return ", ".join(parts) or "nothing retained"

    def to_dict(self) -> dict:
        """``{}`` when nothing is retained, as the JSON document has always said."""
        return {"zones": self.zones, "webhook_secrets": self.secrets} if self.zones or self.secrets else {}


def tagged_as_partition(ctx: Ctx, tags: dict[str, str]) -> bool:
    """Whether ``tags`` (key → value) say the resource is this partition's (arda:infrastructure, arda:partition)."""
    config = ctx.target.config
    return tags.get("arda:infrastructure") == config.infrastructure.name and tags.get("arda:partition") == (
        config.partition.value
    )


def zone_problem(ctx: Ctx, zone_id: str) -> str | None:
    """Why hosted zone ``zone_id`` is not this partition's mail zone, or None."""
    domain = ctx.target.config.mail_domain
    zone = ctx.aws.call("route53", "get_hosted_zone", Id=zone_id)["HostedZone"]
    listed = ctx.aws.call(
        "route53", "list_tags_for_resource", ResourceType="hostedzone", ResourceId=zone_id.split("/")[-1]
    )
    tags = {t["Key"]: t["Value"] for t in listed.get("ResourceTagSet", {}).get("Tags", [])}
    if zone["Name"].lower().rstrip(".") != domain or zone.get("Config", {}).get("PrivateZone"):
        return f"hosted zone {zone_id} is {zone['Name']}, not the public zone {domain}"
    if not tagged_as_partition(ctx, tags):
        return f"hosted zone {zone_id} is not tagged as {ctx.target.config.infrastructure.name}'s {domain}"
    return None


def secret_problem(ctx: Ctx, arn: str) -> str | None:
    """Why ``arn`` is not this partition's webhook secret, or None."""
    parts = arn.split(":")
    if (
        len(parts) < 7
        or parts[2] != "secretsmanager"
        or parts[3] != ctx.target.region
        or parts[4] != ctx.target.account
    ):
        return f"{arn} is not a secret of account {ctx.target.account} in {ctx.target.region}"
    secret = ctx.aws.call("secretsmanager", "describe_secret", SecretId=arn)
    tags = {t["Key"]: t["Value"] for t in secret.get("Tags") or []}
    if not tagged_as_partition(ctx, tags) or ctx.target.config.mail_domain not in str(secret.get("Description", "")):
        return f"secret {arn} is not tagged and described as the webhook secret of {ctx.target.config.mail_domain}"
    return None


def find_orphans(ctx: Ctx) -> Retained:
    """Zones named like the partition's and webhook secrets tagged as its, that no stack holds any more."""
    domain = ctx.target.config.mail_domain
    zones = []
    listed = ctx.aws.call("route53", "list_hosted_zones_by_name", DNSName=domain, MaxItems="100")["HostedZones"]
    for zone in listed:
        if zone["Name"].lower().rstrip(".") == domain and zone_problem(ctx, zone["Id"]) is None:
            zones.append(zone["Id"].split("/")[-1])
    secrets = []
    partition = ctx.target.config.partition.value
    listed_secrets = ctx.aws.items(
        "secretsmanager",
        "list_secrets",
        "SecretList",
        Filters=[{"Key": "tag-key", "Values": ["arda:partition"]}, {"Key": "tag-value", "Values": [partition]}],
    )
    candidates = [s for s in listed_secrets if not s.get("DeletedDate")]
    for candidate in candidates:
        # ListSecrets shows each secret's tags: one of another infrastructure is not even
        # described (the documented policy lets the operator describe only its own).
        if not tagged_as_partition(ctx, {t["Key"]: t["Value"] for t in candidate.get("Tags") or []}):
            continue
        if secret_problem(ctx, candidate["ARN"]) is None:
            secrets.append(candidate["ARN"])
    return Retained(zones, secrets)


def refuse_claimed(ctx: Ctx, zones: list[str], *, resolver: str | None = None, elsewhere_only: bool = False) -> None:
    """Before a purge deletes a zone: nothing may still use it, or the purge refuses and says why.

    No stack of the partition may live in any enabled region of the account (a region
    changed in the instance config leaves the stack where it was), no stack may export the
    zone's ID, and (``elsewhere_only`` False: no stack of ours just removed the delegation)
    the parent must not delegate the domain to the zone's name servers, asked of DNS as
    verify asks; DNS that cannot answer is a refusal too.
    """
    if not zones:
        return
    reasons = stacks_claiming(ctx, zones, skip_region=ctx.target.region if elsewhere_only else None)
    if not elsewhere_only:
        reasons += delegations(ctx, zones, resolver)
    if reasons:
        raise Refused(
            f"{ctx.target.stack}: refusing to purge: {'; '.join(reasons)}; deleting the zone now would leave what "
            "uses it pointing at nothing (a dangling delegation); take that down first (or point the instance "
            "config at the region it lives in), then rerun; nothing was deleted"
        )


def enabled_regions(ctx: Ctx) -> list[str]:
    return sorted(r["RegionName"] for r in ctx.aws.call("ec2", "describe_regions")["Regions"])


def stacks_claiming(
    ctx: Ctx, zones: list[str], *, skip_region: str | None, exports_everywhere: bool = False
) -> list[str]:
    """A stack of the partition in any enabled region but ``skip_region``, and any export naming one of ``zones``
    (in ``skip_region`` too when ``exports_everywhere``: there, the stack being deployed exports nothing yet).

    The regions are asked side by side (``ctx.side_by_side`` at once: each is a round trip, often to
    the other side of the world), and their answers taken in the order AWS listed the regions.
    """

    def claims_in(region: str) -> list[str]:
        reasons = []
        there = Stack(ctx.aws, ctx.target.stack, region=region)
        if region != skip_region:
            found = there.describe()
            if found and found["StackStatus"] != "DELETE_COMPLETE":
                reasons.append(f"the stack {ctx.target.stack} lives in {region} ({found['StackStatus']})")
        if region == skip_region and not exports_everywhere:
            return reasons
        return reasons + [
            f"{e['Name']} of {e.get('ExportingStackId', '?')} ({region}) names hosted zone {e['Value']}"
            for e in there.account_exports()
            if e.get("Value") in zones
        ]

    regions = enabled_regions(ctx)
    pool = threads.pool(ctx.side_by_side, "claims")
    try:
        return [reason for found in pool.map(claims_in, regions) for reason in found]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a failure or a signal does not wait for the rest


def delegations(ctx: Ctx, zones: list[str], resolver: str | None) -> list[str]:
    """Each zone the parent still delegates the domain to (as DNS answers), or DNS's failure to say."""
    domain, parent = ctx.target.config.mail_domain, ctx.target.config.infrastructure.parent_zone_name
    delegated = delegated_name_servers(domain, resolver)
    asked = resolver or "the system resolver"
    if delegated is None:
        return [
            f"DNS ({asked}) could not say whether {parent} still delegates {domain}: a check that cannot answer "
            "never clears the way (rerun with a resolver that answers: --resolver IP[:PORT])"
        ]
    reasons = []
    for zone_id in zones:
        zone = ctx.aws.call("route53", "get_hosted_zone", Id=zone_id)
        servers = {n.lower().rstrip(".") for n in zone.get("DelegationSet", {}).get("NameServers", [])}
        if delegated & servers:
            reasons.append(
                f"{parent} still delegates {domain} to hosted zone {zone_id}'s name servers "
                f"({', '.join(sorted(delegated & servers))}, asked of {asked}): a live partition uses it"
            )
    return reasons
