"""Step 11: execute the change set, follow the stack to its end, protect it, print the exports.

Once ``execute_change_set`` is sent the change belongs to CloudFormation: the
journal entry is settled (never undone). Stopped while the request is in flight, the
journal asks CloudFormation whether the execution started (if not, the change set is
deleted as any other). Ctrl-C or SIGTERM while following stops the following only; the
last line says the stack carries on, how to watch it, and (read from the stack at that
moment) which of its protections are not applied yet and the command that applies them.
"""

from __future__ import annotations

import logging

from tools.lib.aws.cloudformation import exports
from tools.lib.deploy.changeset import Created
from tools.lib.deploy.context import Ctx
from tools.lib.deploy.outcomes import DeployFailed, FollowTimeout
from tools.lib.deploy.protections import UNREAD, missing_protections, protect_settled

LOG = logging.getLogger(__name__)
SUCCESS = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")


def execute(ctx: Ctx, created: Created, policy: object = UNREAD, since: object = UNREAD) -> dict:
    """Execute, follow, protect; the settled stack (its exports are printed). DeployFailed if it rolled back.

    ``policy``: the stack policy as the run read it before (``protect``); a change set does not change it.
    ``since``: the stack's newest event ID, read once the change set existed (read here when not given):
    the events that follow it are this execution's.
    """
    stack, change_set = ctx.target.stack, created.change_set
    watch = (
        f"aws cloudformation describe-stack-events --stack-name {change_set.stack_id or stack} "
        f"--region {ctx.target.region}"
    )
    since = ctx.stack.newest_event_id(change_set.stack_id) if since is UNREAD else since
    created.entry.done = f"change set {change_set.id} executed; CloudFormation carries on: watch it with: {watch}"
    with ctx.journal.settling(
        created.entry,
        unsure=f"change set {change_set.id} may have been executed: see the stack's events with: {watch}",
        check=lambda: ctx.stack.executed(change_set.id, change_set.stack_id),
    ):
        ctx.stack.execute_change_set(change_set)
    ctx.out.progress(f"{stack}: executing change set; following stack events (Ctrl-C stops following, not the update)")
    with ctx.journal.attempt(
        f"the protections of {stack}",
        done="",  # said only when something is missing: see protections_sentence
        unsure=f"the stack's protections may not be applied: run {ctx.target.rerun} once it settles",
        check=lambda: protections_sentence(ctx, change_set.stack_id),
    ) as protections:
        followed = ctx.stack.follow(change_set.stack_id, since)
        if followed.status is None:
            raise FollowTimeout(f"{stack}: not settled after {followed.elapsed:.0f}s (--timeout)", followed.elapsed)
        final = followed.status
        if followed.lag is not None:  # the deploy benchmark reads it
            ctx.out.progress(f"{stack}: {final} noticed {followed.lag:.2f}s after CloudFormation reported it")
        if final not in SUCCESS:
            ctx.journal.discard(protections)  # rolled back: the protections are what they were (or moot)
            report_failure(ctx, change_set.stack_id, since, final)
            created.entry.done = f"change set {change_set.id} executed and rolled back ({final})"
            raise DeployFailed(f"{stack}: the stack update ended in {final} (failed resources above)")
        created.entry.done = f"change set {change_set.id} executed: {final}"
        ctx.out.result(f"{stack}: {final}")
        settled = protect_settled(ctx, change_set.stack_id, policy)
    ctx.journal.discard(protections)  # in place: nothing to say
    print_exports(ctx, settled)
    return settled


def protections_sentence(ctx: Ctx, stack_id: str) -> str:
    """What the stack shows of its protections now, when a run stopped after its execution; "" when in place."""
    stack = ctx.stack.describe_by_id(stack_id) if stack_id else ctx.stack.describe()
    status = (stack or {}).get("StackStatus", "")
    if stack is None or status.startswith(("ROLLBACK", "DELETE")):
        return ""  # a failed first creation or a stack going away: its protections are not the point
    missing = missing_protections(ctx, stack)
    if not missing:
        return ""
    when = "once it settles" if status.endswith("_IN_PROGRESS") else "now"
    return f"the stack is {status} and {' and '.join(missing)}: run {ctx.target.rerun} {when} (it applies them)"


def report_failure(ctx: Ctx, stack_id: str, since: str | None, final: str) -> None:
    """The stack's final state and each resource that failed, with CloudFormation's reason."""
    ctx.out.result(f"{ctx.target.stack}: {final}; failed resources:")
    for event in ctx.stack.failed_events(stack_id, since):
        ctx.out.result(f"  {event.logical_id} ({event.resource_type}) {event.status}: {event.reason}")


def print_exports(ctx: Ctx, stack: dict) -> None:
    """The stack's exports, one per line."""
    for name, value in exports(stack):
        ctx.out.result(f"  {name} = {value}")
