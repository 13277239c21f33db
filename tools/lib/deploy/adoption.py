"""Step 5 and 9 of a first creation: adopt what an earlier stack of the partition retained, instead of refusing.

``--destroy`` retains the hosted zone and the webhook secret (DeletionPolicy Retain), so
that a mistaken take-down does not delete tenants' DNS. Bringing the partition back must
keep them: a new zone would get new name servers, the parent's delegation would change,
and every tenant record would be gone. So a creation (no stack, or the empty stack a
failed import left) first looks for them:

- **Found and provably the partition's** (``tools.lib.deploy.retained``: the public zone of
  the mail domain tagged as the partition's; the webhook secret of the stack's name, in
  the target account and region, tagged and described as the partition's; no stack of the
  partition in any enabled region, no export naming the zone; the parent delegating the
  domain to the zone's own name servers or to none, as DNS answers): the deploy
  *adopts* them. An ``IMPORT`` change set takes them into the stack (CloudFormation's
  resource import: ``CreateChangeSet`` with ``ChangeSetType=IMPORT`` and ``ResourcesToImport``;
  "Import AWS resources into a CloudFormation stack", AWS CloudFormation User Guide), and
  the normal ``UPDATE`` change set then brings the rest of the stack back. The import's
  template holds exactly the adopted resources as the committed template has them
  (DeletionPolicy included, which an import requires), and no outputs, parameters or stack
  tags, which an import may not change; the ``UPDATE`` adds those.
- **Found and not provably the partition's**, or two zones of the name, or a delegation
  elsewhere, or DNS that cannot answer: refused, saying why and the way forward (the purge
  for what is the partition's, by hand for what is not); nothing changed.

The zone keeps its ID, its name servers and its records: the records the stack manages
are created again by the ``UPDATE`` (an ``UPSERT`` of the same values), tenants' records
are never touched, and the ``NsDelegation`` custom resource writes the same name servers
into the parent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from templates.partition_email import R_WEBHOOK_SECRET, R_ZONE, TOKEN_SECRET_NAME, WEBHOOK_SECRET_NAME, secret_name
from tools.lib.delegation import delegated_name_servers
from tools.lib.deploy.context import Ctx
from tools.lib.deploy.retained import secret_problem, stacks_claiming, zone_problem
from tools.lib.deploy.state import StackState, purge_command
from tools.lib.errors import Refused
from tools.lib.plan.template import live_resources, parse_template

# The resource types of the adopted resources, and the property that identifies each in an import: the
# primaryIdentifier of its CloudFormation resource schema (/properties/Id for both).
ADOPTED_TYPES = {R_ZONE: "AWS::Route53::HostedZone", R_WEBHOOK_SECRET: "AWS::SecretsManager::Secret"}
IDENTIFIER = "Id"
# A stack a failed import left: CloudFormation rolled the import back, and the stack holds nothing.
EMPTY_AFTER_FAILED_IMPORT = "IMPORT_ROLLBACK_COMPLETE"


@dataclass(frozen=True)
class Adoption:
    """What a creation adopts: the retained zone (its ID, name servers, record count) and webhook secret."""

    zone_id: str | None = None
    name_servers: tuple[str, ...] = ()
    records: int = 0  # record sets the zone holds now, its own NS and SOA included
    secret_arn: str | None = None
    into_existing: bool = False  # into the empty stack a failed import left (not a new one)

    def __bool__(self) -> bool:
        return bool(self.zone_id or self.secret_arn)

    def identifiers(self) -> dict[str, str]:
        """Logical ID → the physical identifier the import names."""
        found = {R_ZONE: self.zone_id, R_WEBHOOK_SECRET: self.secret_arn}
        return {logical_id: value for logical_id, value in found.items() if value}

    def resources_to_import(self) -> list[dict]:
        """``ResourcesToImport`` of the IMPORT change set."""
        return [
            {
                "ResourceType": ADOPTED_TYPES[logical_id],
                "LogicalResourceId": logical_id,
                "ResourceIdentifier": {IDENTIFIER: value},
            }
            for logical_id, value in self.identifiers().items()
        ]

    def describe(self) -> str:
        """One phrase: what is adopted and what it keeps."""
        parts = []
        if self.zone_id:
            parts.append(
                f"hosted zone {self.zone_id} ({self.records} record set(s), name servers kept: "
                f"{', '.join(self.name_servers)})"
            )
        if self.secret_arn:
            parts.append(f"webhook secret {self.secret_arn}")
        return " and ".join(parts)

    def to_dict(self) -> dict:
        """The ``adoption`` object of the JSON document."""
        found: dict = {}
        if self.zone_id:
            found["zone"] = {"id": self.zone_id, "name_servers": list(self.name_servers), "records": self.records}
        if self.secret_arn:
            found["webhook_secret"] = {"arn": self.secret_arn}
        return found


def needs_a_look(ctx: Ctx, state: StackState) -> bool:
    """Whether this deploy creates the zone: no stack yet, or the empty stack a failed import left."""
    if state.kind == "CREATE":
        return True
    return (state.existing or {}).get("StackStatus") == EMPTY_AFTER_FAILED_IMPORT and not any(
        r.get("LogicalResourceId") == R_ZONE for r in ctx.stack.resources(state.stack_id)
    )


def find_adoption(ctx: Ctx, state: StackState, resolver: str | None) -> Adoption:
    """Step 5 of a creation: what it adopts (nothing: an empty ``Adoption``), or ``Refused`` saying why not.

    Replaces the old refusal of a second zone: a zone of the mail domain is either adopted
    or refused; a new one is created only when there is none.
    """
    if not needs_a_look(ctx, state):
        return Adoption()
    into_existing = state.kind != "CREATE"
    zone_id, servers, records = _zone(ctx, resolver)
    webhook, token = (secret_name(ctx.target.stack, name) for name in (WEBHOOK_SECRET_NAME, TOKEN_SECRET_NAME))
    held = {found["Name"]: found for found in _secrets_named(ctx, {webhook, token})}
    if token in held:
        raise _token_name_taken(ctx, held[token])
    secret_arn = _webhook_secret(ctx, held[webhook]) if webhook in held else None
    return Adoption(zone_id, servers, records, secret_arn, into_existing)


def _refusal(ctx: Ctx, what: str, remedy: str) -> Refused:
    return Refused(
        f"{ctx.target.stack}: refusing to create the stack: {what}; a second zone of the mail domain would take the "
        f"delegation and orphan the records of the first; {remedy}; nothing was changed"
    )


def _zone(ctx: Ctx, resolver: str | None) -> tuple[str | None, tuple[str, ...], int]:
    """The retained zone to adopt (ID, name servers, record count), or (None, (), 0) when there is none."""
    domain, account = ctx.target.config.mail_domain, ctx.target.account
    listed = ctx.aws.call("route53", "list_hosted_zones_by_name", DNSName=domain, MaxItems="100")["HostedZones"]
    zones = [
        z["Id"].split("/")[-1]
        for z in listed
        if z["Name"].lower().rstrip(".") == domain and not z.get("Config", {}).get("PrivateZone")
    ]
    if not zones:
        return None, (), 0
    if len(zones) > 1:
        raise _refusal(
            ctx,
            f"account {account} holds {len(zones)} public hosted zones of {domain} ({', '.join(zones)}), and which "
            "one the partition's records live in cannot be told",
            "keep the one the parent delegates to and delete the others by hand (aws route53 delete-hosted-zone "
            "--id ...), then rerun",
        )
    (zone_id,) = zones
    problem = zone_problem(ctx, zone_id)
    if problem is not None:
        raise _refusal(
            ctx,
            f"account {account} already holds the public hosted zone {domain} ({zone_id}), not made by this tool "
            f"({problem})",
            f"find out what it serves, then delete it (aws route53 delete-hosted-zone --id {zone_id}) or tag it as "
            "the partition's (arda:infrastructure, arda:partition) to adopt it, or rename the partition's mail "
            "domain, then rerun",
        )
    claims = stacks_claiming(ctx, [zone_id], skip_region=ctx.target.region, exports_everywhere=True)
    if claims:
        raise Refused(
            f"{ctx.target.stack}: refusing to adopt the retained hosted zone {zone_id}: {'; '.join(claims)}; a zone "
            "serves one stack: take that down first (or point the instance config at the region it lives in), "
            "then rerun; nothing was changed"
        )
    zone = ctx.aws.call("route53", "get_hosted_zone", Id=zone_id)
    servers = tuple(sorted(n.lower().rstrip(".") for n in zone.get("DelegationSet", {}).get("NameServers", [])))
    _refuse_delegation_elsewhere(ctx, zone_id, servers, resolver)
    records = len(ctx.aws.items("route53", "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone_id))
    return zone_id, servers, records


def _refuse_delegation_elsewhere(ctx: Ctx, zone_id: str, servers: tuple[str, ...], resolver: str | None) -> None:
    """The parent must delegate the domain to the zone's name servers or to none: the stack's NsDelegation
    writes the zone's; over a delegation to other servers it would take the domain from whatever serves it."""
    domain, parent = ctx.target.config.mail_domain, ctx.target.config.infrastructure.parent_zone_name
    asked = resolver or "the system resolver"
    delegated = delegated_name_servers(domain, resolver)
    if delegated is None:
        raise Refused(
            f"{ctx.target.stack}: refusing to adopt the retained hosted zone {zone_id}: DNS ({asked}) could not say "
            f"whether {parent} delegates {domain} elsewhere, and a check that cannot answer never clears the way; "
            "rerun with a resolver that answers (--resolver IP[:PORT]); nothing was changed"
        )
    elsewhere = sorted(delegated - set(servers))
    if elsewhere:
        raise Refused(
            f"{ctx.target.stack}: refusing to adopt the retained hosted zone {zone_id}: {parent} delegates {domain} "
            f"to {', '.join(elsewhere)} (asked of {asked}), not to the zone's name servers "
            f"({', '.join(servers)}); something else serves the domain: find out what, then rerun; nothing was "
            "changed"
        )


def _secrets_named(ctx: Ctx, names: set[str]) -> list[dict]:
    """Secrets holding exactly one of ``names`` (deleted ones in their recovery window included)."""
    listed = ctx.aws.items(
        "secretsmanager",
        "list_secrets",
        "SecretList",
        Filters=[{"Key": "name", "Values": sorted(names)}],
        IncludePlannedDeletion=True,
    )
    # The name filter matches prefixes; a secret holds a name only when it is exactly that name.
    return sorted((s for s in listed if s.get("Name") in names), key=lambda s: s["Name"])


def _deleted_refusal(ctx: Ctx, found: dict) -> Refused:
    arn = found["ARN"]
    return Refused(
        f"{ctx.target.stack}: refusing to create the stack: the secret {found['Name']} ({arn}) was deleted with a "
        f"recovery window ({found['DeletedDate']:%Y-%m-%d}) and keeps its name until the window ends, and the "
        "stack's secret of that name could not be created; restore it (aws secretsmanager restore-secret "
        f"--secret-id {arn}) to have it adopted, or free the name now (aws secretsmanager delete-secret "
        f"--secret-id {arn} --force-delete-without-recovery), then rerun; nothing was changed"
    )


def _webhook_secret(ctx: Ctx, found: dict) -> str:
    """The secret holding the stack's webhook secret name, to adopt (its ARN); refused unless it is provably the
    partition's and not deleted."""
    if found.get("DeletedDate"):
        raise _deleted_refusal(ctx, found)
    problem = secret_problem(ctx, found["ARN"])
    if problem is not None:
        raise Refused(
            f"{ctx.target.stack}: refusing to create the stack: the secret {found['Name']} ({found['ARN']}) holds "
            f"the stack's webhook secret name and is not provably the partition's ({problem}); find out what "
            "it is, then delete it or tag it as the partition's, then rerun; nothing was changed"
        )
    return found["ARN"]


def _token_name_taken(ctx: Ctx, found: dict) -> Refused:
    """The token secret is never retained; a secret of its name (deleted, in its recovery window, or made by
    hand) would make the creation fail half-way (Secrets Manager keeps a deleted secret's name 7 to 30 days,
    "Delete an AWS Secrets Manager secret")."""
    if found.get("DeletedDate"):
        return _deleted_refusal(ctx, found)
    return Refused(
        f"{ctx.target.stack}: refusing to create the stack: the secret {found['Name']} ({found['ARN']}) exists "
        "outside any stack, and the stack's secret of that name could not be created; remove it with "
        f"{purge_command(ctx, None)} and free its name (aws secretsmanager delete-secret --secret-id "
        f"{found['ARN']} --force-delete-without-recovery), then rerun; nothing was changed"
    )


def import_template(body: str, adoption: Adoption, where: str) -> str:
    """The IMPORT change set's template: exactly the adopted resources, as the committed template has them.

    An import may add only the resources it imports, each with a DeletionPolicy, and may not
    change outputs ("Import AWS resources into a CloudFormation stack"); the committed
    template's description comes along. JSON, keys in order: the same bytes for the same input.
    """
    template = parse_template(body, f"the committed template of {where}")
    resources = template.get("Resources") or {}
    chosen = {logical_id: resources[logical_id] for logical_id in sorted(adoption.identifiers())}
    document = {"AWSTemplateFormatVersion": "2010-09-09"}
    if template.get("Description"):
        document["Description"] = template["Description"]
    document["Resources"] = chosen
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def created_after(body: str, adoption: Adoption, parameters: dict[str, str], where: str) -> list[str]:
    """The logical IDs the ``UPDATE`` after the import adds: every resource of the committed template whose
    condition holds for ``parameters`` (a DKIM slot left empty has no record), but the adopted ones."""
    template = parse_template(body, f"the committed template of {where}")
    return sorted(set(live_resources(template, parameters)) - set(adoption.identifiers()))


@dataclass(frozen=True)
class AdoptionPlan:
    """What a plan shows of an adoption: the import's rows (by identifier) and what the update adds after."""

    adoption: Adoption
    imported: list[dict] = field(default_factory=list)  # {"logical_id", "type", "identifier"}
    created_after: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**self.adoption.to_dict(), "imported": self.imported, "created_after": self.created_after}


def show_adoption(ctx: Ctx, adoption: Adoption, changes: list, added: list[str]) -> None:
    """The import as CloudFormation accepted it, by identifier, and what the update after it adds."""
    identifiers = adoption.identifiers()
    rows = [("ACTION", "LOGICAL ID", "RESOURCE TYPE", "IDENTIFIER")] + [
        (c.action, c.logical_id, c.resource_type, identifiers.get(c.logical_id, "-")) for c in changes
    ]
    ctx.out.table(f"{ctx.target.stack}: adopting what an earlier stack retained ({adoption.describe()})", rows)
    ctx.out.result(f"  then an update adds {len(added)} resource(s): {', '.join(added)}")


def only_adopted(template: dict) -> bool:
    """Whether a deployed template holds nothing but adopted resources (an adoption's import ran, its update
    has not): bringing the rest back is a creation, reviewed whole with its pull request."""
    resources = set((template or {}).get("Resources") or {})
    return bool(resources) and resources <= set(ADOPTED_TYPES)
