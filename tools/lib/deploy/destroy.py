"""``deploy.py --destroy``: take a partition down, guarded, confirmed, followed, with what is retained accounted for.

Step 2 (the account) first; then the stack's resources are shown with their fate
(DELETE or RETAIN), the operator confirms by typing the stack's name (or ``--yes``),
termination protection is lifted (journaled: a deletion that fails or is stopped
leaves it on again), the stack is deleted and followed to ``DELETE_COMPLETE``.
The retained zone and webhook secret are then named with the commands that remove
them, or removed (``--purge-retained``).
"""

from __future__ import annotations

from dataclasses import dataclass

from templates.partition_email import O_ZONE_ID
from tools.lib.aws_errors import aws_call
from tools.lib.deploy.cloudformation import DeployFailed, outputs
from tools.lib.deploy.context import Ctx
from tools.lib.deploy.execute import report_failure
from tools.lib.deploy.guards import check_account
from tools.lib.deploy.protections import lift_termination_protection
from tools.lib.errors import NotDone, Refused
from tools.lib.plan.template import parse_template
from tools.lib.prompt import ask

PURGE_BATCH = 100


@dataclass(frozen=True)
class DestroyOptions:
    """What the operator asked for."""

    assume_yes: bool = False
    is_tty: bool = False
    purge_retained: bool = False


def destroy(ctx: Ctx, opts: DestroyOptions) -> str:
    """Take the partition down; the outcome."""
    stack_name = ctx.target.stack
    check_account(ctx)
    stack = ctx.stack.describe()
    if stack is None:
        ctx.out.line(f"{stack_name}: no such stack in account {ctx.target.account}; nothing to take down")
        return "nothing-to-destroy"
    status = stack["StackStatus"]
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise Refused(f"{stack_name}: the stack is busy ({status}); wait for it to settle, then rerun --destroy")
    retained = show_fates(ctx, stack)
    kept = outputs(stack)
    zone_id, webhook = kept.get(O_ZONE_ID), kept.get("WebhookSecretArn")
    if opts.purge_retained:
        ctx.out.line(f"{stack_name}: --purge-retained: the zone {zone_id} and the webhook secret will go too")
    confirm_destroy(ctx, opts)
    protection = lift_termination_protection(ctx, stack)
    since = ctx.stack.newest_event_id(stack["StackId"])
    with ctx.journal.attempt(
        f"stack {stack['StackId']}",
        done=f"deleted the stack {stack_name}",
        unsure=(
            f"the deletion of {stack_name} was started and did not complete: watch it with: aws cloudformation "
            f"describe-stack-events --stack-name {stack['StackId']} --region {ctx.target.region}"
        ),
    ):
        ctx.stack.call("delete_stack", StackName=stack["StackId"])
        final = ctx.stack.follow(stack["StackId"], since)
        if final != "DELETE_COMPLETE":
            report_failure(ctx, stack["StackId"], since, final)
            raise DeployFailed(f"{stack_name}: the deletion ended in {final} (failed resources above)")
    if protection is not None:
        ctx.journal.settle(protection)  # the stack is gone, with its protection
    ctx.out.line(
        f"{stack_name}: DELETE_COMPLETE; the NS delegation left {ctx.target.config.infrastructure.parent_zone_name}"
    )
    if opts.purge_retained:
        purge(ctx, zone_id, webhook)
    elif retained:
        print_retained(ctx, zone_id, webhook)
    ctx.out.document["retained"] = {} if opts.purge_retained else {"zone": zone_id, "webhook_secret": webhook}
    return "destroyed"


def show_fates(ctx: Ctx, stack: dict) -> set[str]:
    """Each resource of the stack, DELETE or RETAIN (its DeletionPolicy); the retained logical IDs."""
    with aws_call("cloudformation get-template", ctx.target.stack):
        body = ctx.aws.cloudformation.get_template(StackName=stack["StackId"], TemplateStage="Original")
    template = parse_template(body["TemplateBody"], f"the deployed template of {ctx.target.stack}")
    retained = {
        name
        for name, resource in (template.get("Resources") or {}).items()
        if resource.get("DeletionPolicy") == "Retain"
    }
    with aws_call("cloudformation describe-stack-resources", ctx.target.stack):
        resources = ctx.aws.cloudformation.describe_stack_resources(StackName=stack["StackId"])["StackResources"]
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
    ctx.out.document["resources"] = [
        dict(zip(("fate", "logical_id", "type", "physical_id"), r, strict=True)) for r in rows[1:]
    ]
    return retained


def confirm_destroy(ctx: Ctx, opts: DestroyOptions) -> None:
    """``--yes``, or the stack's name typed on a terminal; otherwise nothing is deleted (exit 4)."""
    stack = ctx.target.stack
    if opts.assume_yes:
        return
    if not opts.is_tty:
        raise NotDone(f"{stack}: not deleting without a terminal or --yes; nothing was deleted")
    if ask(f"Type the stack name ({stack}) to delete it from account {ctx.target.account}:") != stack:
        raise NotDone(f"{stack}: the name did not match; nothing was deleted")


def print_retained(ctx: Ctx, zone_id: str | None, webhook: str | None) -> None:
    """What the stack kept, with the commands that remove it when it is no longer needed."""
    config, region = ctx.target.config, ctx.target.region
    ctx.out.line(f"{ctx.target.stack}: retained, with the commands that remove them when they are no longer needed:")
    if zone_id:
        ctx.out.line(f"  hosted zone {zone_id} ({config.mail_domain}): delete its records, then")
        ctx.out.line(f"    aws route53 delete-hosted-zone --id {zone_id}")
    if webhook:
        ctx.out.line(f"  webhook secret {webhook}:")
        ctx.out.line(
            f"    aws secretsmanager delete-secret --secret-id {webhook} --recovery-window-in-days 7 --region {region}"
        )
    ctx.out.line(
        f"  or rerun: python deploy.py {config.infrastructure.name} {config.partition.value} --destroy "
        "--purge-retained (nothing left to delete but these)"
    )


def purge(ctx: Ctx, zone_id: str | None, webhook: str | None) -> None:
    """--purge-retained: empty and delete the zone, schedule the webhook secret's deletion."""
    stack = ctx.target.stack
    if zone_id:
        route53 = ctx.aws.route53
        with aws_call("route53 list-resource-record-sets", stack):
            pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
            records = [r for page in pages for r in page["ResourceRecordSets"]]
        apex = ctx.target.config.mail_domain
        doomed = [r for r in records if not (r["Name"].lower().rstrip(".") == apex and r["Type"] in ("NS", "SOA"))]
        with (
            ctx.journal.attempt(
                f"hosted zone {zone_id}",
                done=f"deleted the hosted zone {zone_id} and its {len(doomed)} record(s)",
                unsure=f"the hosted zone {zone_id} may be partly emptied: list it with: "
                f"aws route53 list-resource-record-sets --hosted-zone-id {zone_id}",
            ),
            aws_call("route53 delete the zone's records and the zone", stack),
        ):
            for start in range(0, len(doomed), PURGE_BATCH):
                batch = doomed[start : start + PURGE_BATCH]
                route53.change_resource_record_sets(
                    HostedZoneId=zone_id,
                    ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in batch]},
                )
            route53.delete_hosted_zone(Id=zone_id)
        ctx.out.line(f"{stack}: deleted the hosted zone {zone_id} ({len(doomed)} record(s) first)")
    if webhook:
        with (
            ctx.journal.attempt(
                f"webhook secret {webhook}",
                done=f"scheduled the webhook secret's deletion in 7 days ({webhook})",
                unsure=f"the webhook secret's deletion may have been scheduled: check with: aws secretsmanager "
                f"describe-secret --secret-id {webhook} --region {ctx.target.region}",
            ),
            aws_call("secretsmanager delete-secret", stack),
        ):
            ctx.aws.secretsmanager.delete_secret(SecretId=webhook, RecoveryWindowInDays=7)
        ctx.out.line(f"{stack}: scheduled the webhook secret's deletion in 7 days ({webhook})")
