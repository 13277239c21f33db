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


def clean_stale_change_sets(ctx: Ctx, state: StackState, *, keep: bool) -> None:
    """Change sets earlier runs left unexecuted: deleted (or listed with --keep-change-set)."""
    if not state.stack_id:
        return
    for summary in ctx.stack.stale_change_sets(state.stack_id):
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
