"""``deploy.py --destroy``: take a partition down, guarded, confirmed, followed, with what is retained accounted for.

Step 2 (the account) first; then the stack's resources are shown with their fate
(DELETE or RETAIN), the operator confirms by typing the stack's name (or ``--yes``),
termination protection is lifted (journaled: a deletion that fails or is stopped
leaves it on again), the stack is deleted and followed to ``DELETE_COMPLETE``.
The retained zone and webhook secret are then named with the commands that remove
them, or removed (``--purge-retained``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from templates.partition_email import R_WEBHOOK_SECRET, R_ZONE
from tools.lib.aws.errors import AwsError
from tools.lib.deploy.context import Ctx
from tools.lib.deploy.execute import report_failure
from tools.lib.deploy.guards import check_account
from tools.lib.deploy.outcomes import DeployFailed, FollowTimeout
from tools.lib.deploy.protections import lift_termination_protection
from tools.lib.deploy.retained import Retained, find_orphans, refuse_claimed, secret_problem, zone_problem
from tools.lib.deploy.state import purge_command
from tools.lib.errors import NotDone, Refused
from tools.lib.plan.template import parse_template
from tools.lib.prompt import ask

# Route 53's limits on one ChangeResourceRecordSets request (Developer Guide, "Quotas").
MAX_BATCH_RECORDS = 1000
MAX_BATCH_CHARACTERS = 32000


def delete_batches(records: list[dict]) -> list[list[dict]]:
    """DELETE changes for ``records``, packed into requests within Route 53's limits (in order)."""
    batches: list[list[dict]] = []
    count = characters = 0
    for record in records:
        values = [str(v.get("Value", "")) for v in record.get("ResourceRecords") or []]
        size, length = max(len(values), 1), sum(len(v) for v in values)
        if batches and (count + size > MAX_BATCH_RECORDS or characters + length > MAX_BATCH_CHARACTERS):
            batches.append([])
            count = characters = 0
        if not batches:
            batches.append([])
        batches[-1].append({"Action": "DELETE", "ResourceRecordSet": record})
        count, characters = count + size, characters + length
    return batches


@dataclass(frozen=True)
class DestroyOptions:
    """What the operator asked for."""

    assume_yes: bool = False
    is_tty: bool = False
    purge_retained: bool = False
    resolver: str | None = None  # IP[:PORT]: who the purge asks whether the parent still delegates the domain


@dataclass(frozen=True)
class Teardown:
    """What a teardown did: its outcome, what is retained now, and the stack's resources with their fates."""

    outcome: str
    retained: Retained
    resources: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The JSON document's part (``retained`` empty once purged)."""
        found: dict = {"retained": self.retained.to_dict()}
        if self.resources:
            found["resources"] = self.resources
        return found


def destroy(ctx: Ctx, opts: DestroyOptions) -> Teardown:
    """Take the partition down; what it did."""
    stack_name = ctx.target.stack
    check_account(ctx)
    stack = ctx.stack.describe()
    if stack is None:
        return purge_orphans(ctx, opts)
    status = stack["StackStatus"]
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise Refused(f"{stack_name}: the stack is busy ({status}); wait for it to settle, then rerun --destroy")
    resources, fates = show_fates(ctx, stack)
    refuse_imported(ctx, stack)
    retained = identify(ctx, resources) if opts.purge_retained else Retained()
    if opts.purge_retained:
        # The stack's own delegation goes with it (its NsDelegation's deletion completes with the stack's);
        # what else could still use the zone: a stack of this partition in another region.
        refuse_claimed(ctx, retained.zones, elsewhere_only=True)
        ctx.out.result(f"{stack_name}: --purge-retained: {retained.describe()} will go too")
    confirm_destroy(ctx, opts)
    protection = lift_termination_protection(ctx, stack)
    watch = f"aws cloudformation describe-stack-events --stack-name {stack['StackId']} --region {ctx.target.region}"
    with ctx.journal.attempt(
        f"stack {stack['StackId']}",
        done=f"deleted the stack {stack_name}",
        unsure=f"the deletion of {stack_name} may have started: watch it with: {watch}",
        check=lambda: deletion_sentence(ctx, stack["StackId"], watch),
    ):
        followed = ctx.stack.delete(stack["StackId"])
        if followed.status is None:
            raise FollowTimeout(
                f"{stack_name}: the deletion did not end within {followed.elapsed:.0f}s (--timeout); CloudFormation "
                f"carries on: watch it with: {watch}",
                followed.elapsed,
            )
        if followed.status != "DELETE_COMPLETE":
            report_failure(ctx, stack["StackId"], followed.since, followed.status)
            raise DeployFailed(f"{stack_name}: the deletion ended in {followed.status} (failed resources above)")
    if protection is not None:
        ctx.journal.settle(protection)  # the stack is gone, with its protection
    ctx.out.result(
        f"{stack_name}: DELETE_COMPLETE; the NS delegation left {ctx.target.config.infrastructure.parent_zone_name}"
    )
    if opts.purge_retained:
        purge(ctx, retained, opts.resolver)
        return Teardown("destroyed", Retained(), fates)
    kept = Retained(*_physical_ids(resources))
    print_retained(ctx, kept)
    return Teardown("destroyed", kept, fates)


def deletion_sentence(ctx: Ctx, stack_id: str, watch: str) -> str:
    """What CloudFormation shows of a deletion this run asked for and stopped following."""
    stack = ctx.stack.describe_by_id(stack_id)
    status = (stack or {}).get("StackStatus", "DELETE_COMPLETE")  # None: deleted
    if status == "DELETE_COMPLETE":
        return f"the stack {ctx.target.stack} was deleted"
    if status == "DELETE_IN_PROGRESS":
        return f"the deletion of {ctx.target.stack} goes on (DELETE_IN_PROGRESS): watch it with: {watch}"
    if not status.startswith("DELETE_"):
        return ""  # its deletion never started: nothing changed, nothing to say
    return f"the stack {ctx.target.stack} is {status}: see its events with: {watch}"


def refuse_imported(ctx: Ctx, stack: dict) -> None:
    """CloudFormation cannot delete a stack whose exports others import: refuse before touching anything."""
    used = ctx.stack.importers(stack)
    if used:
        listed = "; ".join(f"{export} by {', '.join(stacks)}" for export, stacks in sorted(used.items()))
        first = sorted(used)[0]
        raise Refused(
            f"{ctx.target.stack}: refusing to destroy: its exports are imported ({listed}); remove those imports "
            f"first (see: aws cloudformation list-imports --export-name {first} --region {ctx.target.region}); "
            "nothing was changed, termination protection is as it was"
        )


def purge_orphans(ctx: Ctx, opts: DestroyOptions) -> Teardown:
    """No stack: what earlier stacks of this partition retained, found by name and tags; purged when asked."""
    stack_name = ctx.target.stack
    found = find_orphans(ctx)
    if not opts.purge_retained:
        ctx.out.result(f"{stack_name}: no such stack in account {ctx.target.account}; nothing to take down")
        if found.zones or found.secrets:
            ctx.out.result(f"  retained by an earlier stack: {found.describe()}; remove them with --purge-retained")
        return Teardown("nothing-to-destroy", found)
    if not (found.zones or found.secrets):
        ctx.out.result(f"{stack_name}: no such stack, and nothing it retained in account {ctx.target.account}")
        return Teardown("nothing-to-destroy", found)
    ctx.out.result(f"{stack_name}: no such stack; retained by an earlier one, to purge: {found.describe()}")
    refuse_claimed(ctx, found.zones, resolver=opts.resolver)
    confirm_destroy(ctx, opts)
    purge(ctx, found, opts.resolver)
    return Teardown("purged", Retained())


def identify(ctx: Ctx, resources: list[dict]) -> Retained:
    """The stack's retained zone and secret by the physical IDs the stack recorded, each checked to be this
    partition's (name and tags): a rewritten output cannot point the purge at anything else."""
    zones, secrets = _physical_ids(resources)
    problems = [p for p in [*(zone_problem(ctx, z) for z in zones), *(secret_problem(ctx, s) for s in secrets)] if p]
    if problems:
        raise Refused(
            f"{ctx.target.stack}: refusing to purge: {'; '.join(problems)}; nothing was deleted: rerun without "
            "--purge-retained, and remove what is retained by hand once you know what it is"
        )
    return Retained(zones, secrets)


def _physical_ids(resources: list[dict]) -> tuple[list[str], list[str]]:
    """The retained zone IDs and webhook secret ARNs among the stack's resources (only those that exist)."""

    def of(logical_id: str) -> list[str]:
        return [
            r["PhysicalResourceId"]
            for r in resources
            if r["LogicalResourceId"] == logical_id and r.get("PhysicalResourceId")
        ]

    return of(R_ZONE), of(R_WEBHOOK_SECRET)


def show_fates(ctx: Ctx, stack: dict) -> tuple[list[dict], list[dict]]:
    """Each resource of the stack, DELETE or RETAIN (its DeletionPolicy), as a table; the stack's resources
    (as CloudFormation recorded them: logical ID, type, physical ID), and each one's fate for the document."""
    body = ctx.stack.template_body(stack["StackId"])
    template = parse_template(body, f"the deployed template of {ctx.target.stack}")
    retained = {
        name
        for name, resource in (template.get("Resources") or {}).items()
        if resource.get("DeletionPolicy") == "Retain"
    }
    resources = ctx.stack.resources(stack["StackId"])
    named = sorted(
        (r for r in resources if r.get("LogicalResourceId")),
        key=lambda r: (r["LogicalResourceId"] in retained, r["LogicalResourceId"]),
    )
    rows = [("FATE", "LOGICAL ID", "TYPE", "PHYSICAL ID")] + [
        (
            "RETAIN" if r["LogicalResourceId"] in retained else "DELETE",
            r["LogicalResourceId"],
            r.get("ResourceType", ""),
            r.get("PhysicalResourceId", ""),
        )
        for r in named
    ]
    ctx.out.table(f"{ctx.target.stack}: taking the partition down in account {ctx.target.account}", rows)
    fates = [dict(zip(("fate", "logical_id", "type", "physical_id"), r, strict=True)) for r in rows[1:]]
    return named, fates


def confirm_destroy(ctx: Ctx, opts: DestroyOptions) -> None:
    """``--yes``, or the stack's name typed on a terminal; otherwise nothing is deleted (exit 4)."""
    stack = ctx.target.stack
    if opts.assume_yes:
        return
    if not opts.is_tty:
        raise NotDone(f"{stack}: not deleting without a terminal or --yes; nothing was deleted")
    if ask(f"Type the stack name ({stack}) to delete it from account {ctx.target.account}:") != stack:
        raise NotDone(f"{stack}: the name did not match; nothing was deleted")


def print_retained(ctx: Ctx, kept: Retained) -> None:
    """What the stack kept, with the commands that remove it when it is no longer needed."""
    config, region = ctx.target.config, ctx.target.region
    if not (kept.zones or kept.secrets):
        return
    ctx.out.result(f"{ctx.target.stack}: retained, with the commands that remove them when they are no longer needed:")
    for zone_id in kept.zones:
        ctx.out.result(f"  hosted zone {zone_id} ({config.mail_domain}): delete its records, then")
        ctx.out.result(f"    aws route53 delete-hosted-zone --id {zone_id}")
    for arn in kept.secrets:
        ctx.out.result(f"  webhook secret {arn}:")
        ctx.out.result(
            f"    aws secretsmanager delete-secret --secret-id {arn} --recovery-window-in-days 7 --region {region}"
        )
    ctx.out.result(f"  or rerun: {purge_command(ctx, None)} (nothing left to delete but these)")


def zone_sentence(ctx: Ctx, zone_id: str, rerun: str) -> str:
    """What Route 53 shows of a zone whose purge was stopped: gone, or how many records it still holds."""
    try:
        left = len(ctx.aws.items("route53", "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone_id))
    except AwsError as exc:
        if exc.code == "NoSuchHostedZone":
            return f"deleted the hosted zone {zone_id}"
        raise
    return f"the hosted zone {zone_id} still holds {left} record(s) (its own NS and SOA included): finish with: {rerun}"


def secret_sentence(ctx: Ctx, arn: str, rerun: str) -> str:
    """What Secrets Manager shows of a secret whose purge was stopped."""
    secret = ctx.aws.call("secretsmanager", "describe_secret", SecretId=arn)
    if secret.get("DeletedDate"):
        return f"scheduled the webhook secret's deletion ({arn})"
    return f"the webhook secret {arn} is not scheduled for deletion: finish with: {rerun}"


def purge(ctx: Ctx, retained: Retained, resolver: str | None = None) -> None:
    """--purge-retained: empty and delete each retained zone, schedule each webhook secret's deletion."""
    stack = ctx.target.stack
    apex = ctx.target.config.mail_domain
    rerun = purge_command(ctx, resolver)
    for zone_id in retained.zones:
        records = ctx.aws.items("route53", "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone_id)
        doomed = [r for r in records if not (r["Name"].lower().rstrip(".") == apex and r["Type"] in ("NS", "SOA"))]
        with ctx.journal.attempt(
            f"hosted zone {zone_id}",
            done=f"deleted the hosted zone {zone_id} and its {len(doomed)} record(s)",
            unsure=f"the hosted zone {zone_id} may be partly emptied (each batch of records is deleted "
            f"whole or not at all); finish it with: {rerun}",
            check=lambda zone_id=zone_id: zone_sentence(ctx, zone_id, rerun),
        ):
            for batch in delete_batches(doomed):
                ctx.aws.call(
                    "route53", "change_resource_record_sets", HostedZoneId=zone_id, ChangeBatch={"Changes": batch}
                )
            ctx.aws.call("route53", "delete_hosted_zone", Id=zone_id)
        ctx.out.result(f"{stack}: deleted the hosted zone {zone_id} ({len(doomed)} record(s) first)")
    for arn in retained.secrets:
        with ctx.journal.attempt(
            f"webhook secret {arn}",
            done=f"scheduled the webhook secret's deletion in 7 days ({arn})",
            unsure=f"the webhook secret's deletion may have been scheduled: check with: aws secretsmanager "
            f"describe-secret --secret-id {arn} --region {ctx.target.region}",
            check=lambda arn=arn: secret_sentence(ctx, arn, rerun),
        ):
            ctx.aws.call("secretsmanager", "delete_secret", SecretId=arn, RecoveryWindowInDays=7)
        ctx.out.result(f"{stack}: scheduled the webhook secret's deletion in 7 days ({arn})")
