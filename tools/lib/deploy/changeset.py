"""Steps 9-10: the change set: created (and journaled), waited for, deleted when it will not run.

Creating a change set is the first change a deploy makes in CloudFormation, so
``create_change_set`` registers its undo with the journal at once: whatever ends the
run before it is executed (an error, a refusal, Ctrl-C, SIGTERM), the frame deletes
it again, and the empty REVIEW_IN_PROGRESS stack a CREATE made. Executing it
settles the entry; leaving it for review keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.lib.deploy.cloudformation import ChangeSet, NoChanges, ResourceChange
from tools.lib.deploy.context import Ctx
from tools.lib.deploy.parameters import stack_tags
from tools.lib.deploy.state import StackState
from tools.lib.errors import Refused
from tools.lib.journal import Entry


@dataclass(frozen=True)
class Created:
    """A change set this run created, and its journal entry."""

    change_set: ChangeSet
    entry: Entry


# How long a change set of another deploy.py run may still be about to run: its wait, its review and a
# terminal's yes. Younger than this it belongs to a run in flight, and is never deleted by another run.
IN_FLIGHT_SECONDS = 30 * 60


def other_runs(ctx: Ctx, state: StackState) -> tuple[list[dict], list[dict]]:
    """Change sets other deploy.py runs made and did not execute: (in flight, stale)."""
    if not state.stack_id:
        return [], []
    now = ctx.clock.now()
    in_flight, stale = [], []
    for summary in ctx.stack.stale_change_sets(state.stack_id):
        created = summary.get("CreationTime")
        age = (now - created).total_seconds() if created is not None else IN_FLIGHT_SECONDS
        (stale if age >= IN_FLIGHT_SECONDS else in_flight).append(summary)
    return in_flight, stale


def refuse_runs_in_flight(ctx: Ctx, state: StackState, *, plan: bool) -> list[dict]:
    """Another run's change set may be about to execute: a deploy refuses (CloudFormation's state says so).

    The stale ones (older than a run lives), for ``clean_stale_change_sets``: one listing per run.
    """
    in_flight, stale = other_runs(ctx, state)
    for summary in in_flight:
        name, arn = summary["ChangeSetName"], summary["ChangeSetId"]
        if plan:
            ctx.out.line(f"{ctx.target.stack}: another run's change set {name} is waiting; this plan leaves it alone")
            continue
        raise Refused(
            f"refusing to deploy {ctx.target.stack}: another deploy is in flight: its change set {name} "
            f"({summary.get('Status')}, created {summary.get('CreationTime'):%H:%M:%S} UTC) may be about to run; "
            "wait for it to finish, or if it was abandoned, delete it with: aws cloudformation delete-change-set "
            f"--change-set-name {arn} --region {ctx.target.region}, then rerun"
        )
    return stale


def clean_stale_change_sets(ctx: Ctx, stale: list[dict], *, keep: bool) -> None:
    """Change sets earlier runs left unexecuted longer ago than a run lives: deleted (kept: --keep-change-set)."""
    for summary in stale:
        name = summary["ChangeSetName"]
        if keep:
            ctx.out.line(f"{ctx.target.stack}: kept unexecuted change set {name} (--keep-change-set)")
            continue
        ctx.stack.delete_change_set(summary["ChangeSetId"])
        ctx.journal.fact(f"change set {name}", done=f"deleted unexecuted change set {name} of an earlier run")
        ctx.out.line(f"{ctx.target.stack}: deleted unexecuted change set {name} of an earlier run")


def create_change_set(ctx: Ctx, body: str, parameters: dict[str, str], state: StackState) -> Created:
    """Step 9: submit the change set; the journal deletes it again unless it is executed or kept."""
    change_set = ctx.stack.create_change_set(body, parameters, stack_tags(ctx.target.config), state.kind)
    region, stack = ctx.target.region, ctx.target.stack
    by_hand = f"aws cloudformation delete-change-set --change-set-name {change_set.id} --region {region}"
    if change_set.kind == "CREATE":
        by_hand += (
            f" and aws cloudformation delete-stack --stack-name {stack} --region {region} "
            "(only while it is REVIEW_IN_PROGRESS)"
        )
    entry = ctx.journal.change(
        f"change set {change_set.id}",
        undo=lambda: discard(ctx, change_set),
        undone="the change set was deleted, nothing executed",
        manual=f"nothing executed, but the change set could not be deleted: remove it with: {by_hand}",
        done=f"change set {change_set.id} executed",
    )
    ctx.report.change_set = change_set.id
    return Created(change_set, entry)


def discard(ctx: Ctx, change_set: ChangeSet) -> None:
    """Delete a change set that will not run, and the empty stack a CREATE made."""
    ctx.stack.delete_change_set(change_set.id)
    if change_set.kind == "CREATE" and change_set.stack_id:
        ctx.stack.delete_review_stack(change_set.stack_id)


def wait_for_changes(ctx: Ctx, created: Created) -> list[ResourceChange] | None:
    """Step 10: the change set's changes once it is ready; None when it has none (it is deleted then)."""
    try:
        return ctx.stack.wait_for_change_set(created.change_set.id)
    except NoChanges:
        ctx.journal.undo(created.entry)
        ctx.journal.discard(created.entry)  # an empty change set changed nothing: not worth a word
        ctx.report.change_set = ""
        return None


def check_change_set_account(ctx: Ctx, change_set: ChangeSet) -> None:
    """The change set must live in the configured account (a split STS endpoint could fool step 2)."""
    if change_set.account != ctx.target.account:
        raise Refused(
            f"refusing to execute on {ctx.target.stack}: the change set {change_set.id} is in account "
            f"{change_set.account}, but the instance config names {ctx.target.account}; nothing executed"
        )
