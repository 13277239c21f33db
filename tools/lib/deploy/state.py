"""Step 5: the stack as it stands, and what it has deployed.

``examine_stack`` decides whether the deploy creates or updates the stack (or must
refuse), before the token is resolved or Postmark is called; ``deployed_state``
reads the deployed template and its parameters for the review and the drift check;
``delete_failed_stack`` removes a ROLLBACK_COMPLETE stack when asked to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from templates.partition_email import DKIM_SLOT_NUMBERS, dkim_selector_parameter
from tools.lib.aws_errors import aws_call
from tools.lib.deploy.cloudformation import DeployFailed, outputs, parameter_values
from tools.lib.deploy.context import Ctx
from tools.lib.errors import Refused
from tools.lib.plan.diff import MASK
from tools.lib.plan.template import no_echo_parameters, parse_template

LOG = logging.getLogger(__name__)


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
    return StackState(stack, kind, recreate)


def deployed_state(ctx: Ctx, state: StackState) -> Deployed:
    """The running stack's deployed template and parameters (NoEcho values masked: nothing downstream shows them)."""
    stack = state.running
    if stack is None:
        return Deployed()
    with aws_call("cloudformation get-template", ctx.target.stack):
        body = ctx.aws.cloudformation.get_template(StackName=stack["StackId"], TemplateStage="Original")
    template = parse_template(body["TemplateBody"], f"the deployed template of {ctx.target.stack}")
    return Deployed(template, masked(template, parameter_values(stack)), outputs(stack))


def masked(template: dict, values: dict[str, str]) -> dict[str, str]:
    """Parameter values with every NoEcho one replaced by ``****``."""
    hidden = no_echo_parameters(template)
    return {k: MASK if k in hidden else v for k, v in values.items()}


def delete_failed_stack(ctx: Ctx, state: StackState) -> StackState:
    """--delete-failed-stack: delete the ROLLBACK_COMPLETE stack, wait until it is gone; the state of no stack."""
    LOG.info("%s: deleting the ROLLBACK_COMPLETE stack", ctx.target.stack)
    with ctx.journal.attempt(
        f"the failed stack {state.stack_id}",
        done="deleted the ROLLBACK_COMPLETE stack",
        unsure=f"the deletion of the ROLLBACK_COMPLETE stack {state.stack_id} was started and did not complete",
    ):
        final = ctx.stack.delete_stack(state.stack_id)
        if final != "DELETE_COMPLETE":
            raise DeployFailed(f"{ctx.target.stack}: deleting the failed stack ended in {final}")
    return StackState(None, "CREATE")
