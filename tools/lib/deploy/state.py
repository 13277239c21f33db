"""Step 5: the stack as it stands, and what it has deployed.

``examine_stack`` decides whether the deploy creates or updates the stack (or must
refuse), before the token is resolved or Postmark is called; ``deployed_state``
reads the deployed template and its parameters for the review and the drift check;
``delete_failed_stack`` removes a ROLLBACK_COMPLETE stack when asked to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from templates.partition_email import (
    DKIM_SLOT_NUMBERS,
    dkim_selector_parameter,
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
    kind: Literal["CREATE", "UPDATE"]  # the change set's ChangeSetType (an adoption's IMPORT comes first)
    recreate: bool = False  # a ROLLBACK_COMPLETE stack to delete before creating it again

    @property
    def updated(self) -> dict | None:
        """The stack an UPDATE changes (None for a CREATE)."""
        return self.existing if self.kind == "UPDATE" else None

    @property
    def stack_id(self) -> str | None:
        return (self.existing or {}).get("StackId")

    def dkim_selectors(self) -> list[str]:
        """The selector each DKIM slot holds in the running stack ("" for an empty slot, or for a new stack)."""
        values = parameter_values(self.updated)
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
    stack = state.updated
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
