"""Step 5: the stack as it stands, and what it has deployed.

``examine_stack`` decides whether the deploy creates or updates the stack (or must
refuse), before the token is resolved or Postmark is called; ``deployed_state``
reads the deployed template and its parameters for the review and the drift check;
``delete_failed_stack`` removes a ROLLBACK_COMPLETE stack when asked to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from templates.partition_email import (
    DKIM_SLOT_NUMBERS,
    TOKEN_SECRET_NAME,
    WEBHOOK_SECRET_NAME,
    dkim_selector_parameter,
    secret_name,
)
from tools.lib.aws.cloudformation import outputs, parameter_values
from tools.lib.deploy.context import Ctx
from tools.lib.deploy.outcomes import DeployFailed, FollowTimeout, StackStateError
from tools.lib.errors import Refused
from tools.lib.next_commands import rehearsal_resolver
from tools.lib.plan.diff import MASK
from tools.lib.plan.template import no_echo_parameters, parse_template

LOG = logging.getLogger(__name__)
# What an operator does about a stack state a deploy cannot work from.
_STATE_ADVICE = {
    "UPDATE_ROLLBACK_FAILED": (
        "finish the rollback (aws cloudformation continue-update-rollback, skipping resources that "
        "cannot roll back), then rerun"
    ),
    "DELETE_FAILED": (
        "its deletion failed: fix what blocked it (see describe-stack-events), delete it again "
        "(aws cloudformation delete-stack), then rerun"
    ),
    "ROLLBACK_FAILED": (
        "its first creation could not be rolled back: delete it (aws cloudformation delete-stack), then rerun"
    ),
}
_OTHER_STATE = "resolve it in the CloudFormation console before deploying"


@dataclass(frozen=True)
class StackState:
    """What the deploy found: the described stack (None: there is none), and what it will do with it."""

    existing: dict | None
    kind: str  # CREATE or UPDATE
    recreate: bool = False  # a ROLLBACK_COMPLETE stack to delete before creating it again

    @property
    def running(self) -> dict | None:
        """The stack an UPDATE changes (None for a CREATE)."""
        return self.existing if self.kind == "UPDATE" else None

    @property
    def stack_id(self) -> str | None:
        return (self.existing or {}).get("StackId")

    def dkim_selectors(self) -> list[str]:
        """The selector each DKIM slot holds in the running stack ("" for an empty slot, or for a new stack)."""
        values = parameter_values(self.running)
        return [values.get(dkim_selector_parameter(slot), "") for slot in DKIM_SLOT_NUMBERS]


@dataclass(frozen=True)
class Deployed:
    """The running stack's template and parameter values (NoEcho ones masked); empty for a new stack."""

    template: dict = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)


def examine_stack(ctx: Ctx, *, plan: bool, delete_failed_stack: bool) -> StackState:
    """Step 5: CREATE or UPDATE, or refuse a state that needs the operator (busy, failed, stuck)."""
    stack = ctx.stack.describe()
    recreate = bool(stack) and stack["StackStatus"] == "ROLLBACK_COMPLETE" and delete_failed_stack
    if recreate and plan:
        raise Refused(
            f"{ctx.target.stack}: the stack is ROLLBACK_COMPLETE; a plan never deletes it: run without --plan "
            "(with --delete-failed-stack) to delete and recreate it"
        )
    kind = "CREATE" if recreate else ctx.stack.change_set_type(stack)
    if kind is None:
        raise StackStateError(_state_refusal(ctx.target.stack, stack["StackStatus"]))
    return StackState(stack, kind, recreate)


def _state_refusal(name: str, status: str) -> str:
    """Why a deploy cannot work from a stack in ``status``, and what the operator does about it."""
    if status == "ROLLBACK_COMPLETE":
        return (
            f"{name}: the stack is ROLLBACK_COMPLETE (its first creation failed) and cannot be updated; rerun "
            "with --delete-failed-stack to delete it and create it again"
        )
    if status.endswith("_IN_PROGRESS"):
        return (
            f"{name}: the stack is busy ({status}); wait for it to settle, then rerun "
            f"(watch: aws cloudformation describe-stack-events --stack-name {name})"
        )
    return f"{name}: the stack is {status}; {_STATE_ADVICE.get(status, _OTHER_STATE)}"


def deployed_state(ctx: Ctx, state: StackState) -> Deployed:
    """The running stack's deployed template and parameters (NoEcho values masked: nothing downstream shows them)."""
    stack = state.running
    if stack is None:
        return Deployed()
    body = ctx.stack.template_body(stack["StackId"])
    template = parse_template(body, f"the deployed template of {ctx.target.stack}")
    return Deployed(template, masked(template, parameter_values(stack)), outputs(stack))


def masked(template: dict, values: dict[str, str]) -> dict[str, str]:
    """Parameter values with every NoEcho one replaced by ``****``."""
    hidden = no_echo_parameters(template)
    return {k: MASK if k in hidden else v for k, v in values.items()}


def delete_failed_stack(ctx: Ctx, state: StackState) -> StackState:
    """--delete-failed-stack: delete the ROLLBACK_COMPLETE stack, wait until it is gone; the state of no stack."""
    ctx.out.progress(f"{ctx.target.stack}: deleting the ROLLBACK_COMPLETE stack")
    with ctx.journal.attempt(
        f"the failed stack {state.stack_id}",
        done="deleted the ROLLBACK_COMPLETE stack",
        unsure=f"the deletion of the ROLLBACK_COMPLETE stack {state.stack_id} was started and did not complete",
        check=lambda: _failed_stack_sentence(ctx, state.stack_id),
    ):
        followed = ctx.stack.delete(state.stack_id)
        if followed.status is None:
            raise FollowTimeout(
                f"{ctx.target.stack}: the failed stack's deletion did not end within {followed.elapsed:.0f}s "
                "(--timeout); CloudFormation carries on",
                followed.elapsed,
            )
        if followed.status != "DELETE_COMPLETE":
            raise DeployFailed(f"{ctx.target.stack}: deleting the failed stack ended in {followed.status}")
    return StackState(None, "CREATE")


def _failed_stack_sentence(ctx: Ctx, stack_id: str) -> str:
    stack = ctx.stack.describe_by_id(stack_id)
    if stack is None:
        return "deleted the ROLLBACK_COMPLETE stack"
    return f"the failed stack {stack_id} is {stack['StackStatus']}: once it settles, rerun with --delete-failed-stack"


def purge_command(ctx: Ctx, resolver: str | None) -> str:
    """The command that finishes a purge, with the run's --resolver (in a rehearsal world, the world's)."""
    resolver = resolver or rehearsal_resolver()
    return f"{ctx.target.rerun} --destroy --purge-retained" + (f" --resolver {resolver}" if resolver else "")


def refuse_second_zone(ctx: Ctx, state: StackState) -> None:
    """A first creation when the account already holds a public zone of the mail domain: refuse.

    Route 53 allows two zones of one name; the new stack's zone would take the
    delegation and every tenant record in the old one would be orphaned silently.
    The usual cause: a ``--destroy`` that retained the zone (DeletionPolicy Retain).
    """
    if state.kind != "CREATE":
        return
    config, stack = ctx.target.config, ctx.target.stack
    domain = config.mail_domain
    listed = ctx.aws.call("route53", "list_hosted_zones_by_name", DNSName=domain, MaxItems="100")["HostedZones"]
    zones = [
        z for z in listed if z["Name"].lower().rstrip(".") == domain and not z.get("Config", {}).get("PrivateZone")
    ]
    if not zones:
        return
    zone_id = zones[0]["Id"].split("/")[-1]
    if zone_problem(ctx, zone_id) is None:  # the purge's own test: this partition's zone
        whose = "tagged as this partition's: retained by an earlier stack"
        remedy = f"remove it (and its records) with: {purge_command(ctx, None)}, then rerun"
    else:
        whose = "not made by this tool"
        remedy = (
            f"find out what it serves, then delete it (aws route53 delete-hosted-zone --id {zone_id}) or rename "
            "the partition's mail domain, then rerun"
        )
    raise Refused(
        f"{stack}: refusing to create the stack: account {ctx.target.account} already holds the public hosted zone "
        f"{domain} ({zone_id}, {whose}); a second zone of that name would take the delegation and orphan the "
        f"records of the first; {remedy}; nothing was changed"
    )


def refuse_taken_secret_names(ctx: Ctx, state: StackState) -> None:
    """A first creation while a secret holds one of the stack's secret names: refuse (CREATE would fail).

    Secrets Manager keeps a deleted secret's name through its recovery window (7 to 30 days, "Delete
    an AWS Secrets Manager secret"), and a retained webhook secret keeps it for good; CloudFormation's
    create would then fail half-way. Say which secret holds the name and what frees it.
    """
    if state.kind != "CREATE":
        return
    stack = ctx.target.stack
    names = {secret_name(stack, name) for name in (TOKEN_SECRET_NAME, WEBHOOK_SECRET_NAME)}
    listed = ctx.aws.items(
        "secretsmanager",
        "list_secrets",
        "SecretList",
        Filters=[{"Key": "name", "Values": sorted(names)}],
        IncludePlannedDeletion=True,
    )
    # The name filter matches prefixes; a secret holds a name only when it is exactly that name.
    for found in sorted((s for s in listed if s.get("Name") in names), key=lambda s: s["Name"]):
        full = found["Name"]
        arn = found["ARN"]
        if found.get("DeletedDate"):
            held = (
                f"was deleted with a recovery window ({found['DeletedDate']:%Y-%m-%d}) and keeps its name until the "
                "window ends"
            )
            remedy = (
                f"restore it (aws secretsmanager restore-secret --secret-id {arn}) if it is still wanted, or free "
                f"the name now (aws secretsmanager delete-secret --secret-id {arn} --force-delete-without-recovery)"
            )
        else:
            held = "exists outside any stack (retained by an earlier one)"
            remedy = (
                f"remove it with {purge_command(ctx, None)} and free its name "
                f"(aws secretsmanager delete-secret --secret-id {arn} --force-delete-without-recovery)"
            )
        raise Refused(
            f"{stack}: refusing to create the stack: the secret {full} ({arn}) {held}, and the stack's secret of that "
            f"name could not be created; {remedy}, then rerun; nothing was changed"
        )


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
