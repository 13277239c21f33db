"""Steps 10-11: what the change set will do, shown to the reviewer, and the operator's yes.

``describe_changes`` prints and returns the review (parameters deployed → new, every
changed property, IAM widening); ``gate_iam`` asks for a separate yes to the widening it
returned, on a running stack; ``confirm`` is ``--yes`` or ``y`` on a terminal, otherwise
the change set is kept for review (exit 4).
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from templates.partition_email import O_TOKEN_SECRET, P_TOKEN
from tools.lib.aws.cloudformation import ResourceChange
from tools.lib.aws.errors import AwsError
from tools.lib.deploy.adoption import only_adopted
from tools.lib.deploy.changeset import Created
from tools.lib.deploy.context import Ctx
from tools.lib.deploy.state import Deployed, masked
from tools.lib.errors import NotDone, Refused
from tools.lib.logger import Secret, register_secret
from tools.lib.plan.diff import (
    IamWidening,
    ParameterChange,
    PropertyChange,
    iam_widening,
    parameter_changes,
    property_changes,
)
from tools.lib.plan.template import live_resources, no_echo_parameters, parse_template
from tools.lib.prompt import ask_yes

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Review:
    """What a reviewer is shown besides the change list: parameters, property changes, IAM widening."""

    parameters: list[ParameterChange] = field(default_factory=list)
    properties: list[PropertyChange] = field(default_factory=list)
    iam: list[IamWidening] = field(default_factory=list)


def change_rows(changes: list[ResourceChange]) -> list[dict]:
    """The change set's rows as the JSON document and the evidence hold them."""
    return [
        {"action": c.action, "logical_id": c.logical_id, "resource_type": c.resource_type, "replacement": c.replacement}
        for c in changes
    ]


def show_changes(ctx: Ctx, changes: list[ResourceChange]) -> None:
    """The change set as a table."""
    rows = [("ACTION", "LOGICAL ID", "RESOURCE TYPE", "REPLACEMENT")] + [
        (c.action, c.logical_id, c.resource_type, c.replacement or "-") for c in changes
    ]
    ctx.out.table(f"{ctx.target.stack}: change set ({len(changes)} change(s))", rows)


@dataclass(frozen=True)
class DeployedToken:
    """The running stack's token secret as the review read it: its value (never shown), or why it was not read."""

    value: Secret | None = None
    error: str = ""  # why it could not be read (value None)


def read_deployed_token(ctx: Ctx, deployed: Deployed) -> DeployedToken | None:
    """The deployed token secret's value, for ``token_changed`` (None: the running stack names no token secret).

    A read only, asked once the change set exists, beside the wait for it (``context.ahead``): the
    value is registered as a secret the moment it is read (redacted everywhere, masked on GitHub
    Actions), held as a ``Secret``, and only ever compared. A read that fails is said by
    ``token_changed``, where the review takes the answer, not here.
    """
    arn = deployed.outputs.get(O_TOKEN_SECRET)
    if not arn:
        return None
    try:
        current = ctx.aws.call("secretsmanager", "get_secret_value", SecretId=arn).get("SecretString") or ""
    except AwsError as exc:
        return DeployedToken(error=str(exc))
    if len(current) >= 4:
        register_secret(current)  # a replaced token is as secret as the new one
    return DeployedToken(Secret(current))


def token_changed(ctx: Ctx, deployed: Deployed, token: Secret, current: DeployedToken | None) -> bool | None:
    """Whether the NoEcho token differs from the deployed secret's (``current``: compared here, never shown);
    None: unknown."""
    if current is None:
        return None if deployed.template else True
    if current.value is None:
        stack = ctx.target.stack
        ctx.out.warning(f"{stack}: cannot read the deployed token secret ({current.error}): token change unknown")
        return None
    return not hmac.compare_digest(current.value.reveal().encode(), token.reveal().encode())


def describe_changes(
    ctx: Ctx,
    changes: list[ResourceChange],
    body: str,
    parameters: dict[str, str],
    deployed: Deployed,
    token: Secret,
    *,
    verbose: bool = False,
    deployed_token: Callable[[], DeployedToken | None] | None = None,
) -> Review:
    """Parameters deployed → new, every changed property, and IAM widening: printed, and returned.

    ``deployed_token``: the answer of ``read_deployed_token``, asked ahead (read here when not given).
    """
    stack = ctx.target.stack
    new_template = parse_template(body, f"templates/{ctx.checkout.template_path(ctx.target.config).name}")
    new_values = masked(new_template, parameters)
    no_echo = no_echo_parameters(new_template)
    current = (deployed_token or functools.partial(read_deployed_token, ctx, deployed))()
    changed = parameter_changes(
        deployed.values, new_values, no_echo, {P_TOKEN: token_changed(ctx, deployed, token, current)}
    )
    old_resources = live_resources(deployed.template, deployed.values)
    new_resources = live_resources(new_template, new_values)
    creating = not deployed.template
    report = Review(
        changed,
        property_changes(old_resources, new_resources, [c.logical_id for c in changes], verbose=verbose),
        iam_widening(old_resources, new_resources),
    )
    shown = [p for p in report.parameters if p.changed or p.name in no_echo]
    if shown:
        ctx.out.table(
            f"{stack}: parameters", [("PARAMETER", "DEPLOYED", "NEW")] + [(p.name, p.old, p.new) for p in shown]
        )
    # A creation's resources are the change list above; their every property only with --verbose.
    if report.properties and (verbose or not creating):
        rows = [("RESOURCE", "PROPERTY", "DEPLOYED", "NEW")] + [
            (p.logical_id, p.path, p.old, p.new) for p in report.properties
        ]
        ctx.out.table(f"{stack}: property changes", rows)
    if report.iam:
        # Every grant in full (it is what the IAM gate asks about); on a creation each is new anyway.
        rows = [("ROLE", "DOCUMENT", "STATEMENT", "GRANT" if creating else "WIDENING")] + [
            (i.role, i.document, i.sid, _grant(i.widening) if creating else i.widening) for i in report.iam
        ]
        title = "IAM grants of the new stack" if creating else "IAM changes that WIDEN permissions"
        ctx.out.table(f"{stack}: {title}", rows)
    if creating and not verbose:
        ctx.out.result(f"{stack}: a new stack: every property of every resource with --verbose")
    return report


def _grant(widening: str) -> str:
    """A new stack's grant without 'new ... (new statement)': on a creation every grant is new."""
    return widening.removeprefix("new ").removesuffix(" (new statement)")


def gate_iam(ctx: Ctx, deployed: Deployed, widening: list[IamWidening], *, is_tty: bool, allow: bool) -> None:
    """Widening IAM on a running stack needs its own yes: --allow-iam-changes, or y to that table on a terminal.

    A creation grants everything anew and was reviewed whole with its pull request:
    the table shows its grants, the gate guards changes to a running partition.
    """
    if not deployed.template or only_adopted(deployed.template) or not widening or allow:
        return
    stack = ctx.target.stack
    if not is_tty:
        raise Refused(
            f"{stack}: refusing to execute: the change set widens IAM permissions "
            f"({len(widening)} grant(s), table above); review them, then rerun with --allow-iam-changes --yes"
        )
    if not ask_yes(f"Accept these {len(widening)} IAM widening(s) on {stack}?"):
        raise Refused(f"{stack}: IAM widening not accepted; nothing executed")


def confirm(ctx: Ctx, created: Created, *, assume_yes: bool, is_tty: bool) -> None:
    """Step 11's yes: --yes, or y on a terminal; otherwise the change set is kept for review (exit 4)."""
    if assume_yes:
        return
    kept = (
        f"change set {created.change_set.name} left for review, not executed: to deploy, run "
        f"{ctx.target.rerun} --yes (it replaces this change set)"
    )
    if not is_tty:
        ctx.journal.keep(created.entry, kept)
        raise NotDone(f"{ctx.target.stack}: not executing without a terminal or --yes")
    if not ask_yes(f"Execute this change set on {ctx.target.stack} in account {ctx.target.account}?"):
        ctx.journal.keep(created.entry, kept)
        raise NotDone(f"{ctx.target.stack}: not executed (answered no)")


def confirm_repair(ctx: Ctx, drift: list, *, assume_yes: bool, is_tty: bool) -> None:
    """--overwrite-drift with nothing to execute: rewriting live records needs the same yes as an execution."""
    if assume_yes:
        return
    records = len({d.resource for d in drift})
    if not is_tty:
        raise NotDone(
            f"{ctx.target.stack}: not putting {records} drifted record(s) back without a terminal or --yes; to do it, "
            f"run {ctx.target.rerun} --overwrite-drift --yes"
        )
    if not ask_yes(f"Put {records} drifted record(s) of {ctx.target.stack} back as the deployed template says?"):
        raise NotDone(f"{ctx.target.stack}: drifted records not put back (answered no)")
