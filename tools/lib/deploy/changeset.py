"""Steps 9-10: the change set: journaled, created, waited for, deleted when it will not run; whose it is.

Creating a change set is the first change a deploy makes in CloudFormation. Its name
is chosen and journaled before the request is sent (``Journal.making``): whatever ends
the run before it is executed (an error, a refusal, Ctrl-C or SIGTERM, even one that
arrives after CloudFormation made it and before its answer was read), the frame deletes
it by that name, and the empty REVIEW_IN_PROGRESS stack a CREATE made; the undo asks
CloudFormation what exists, so a change set never made is said so, not "could not be
deleted". Executing it settles the entry; leaving it for review keeps it.

**Whose a change set is.** Each run names itself in its change sets' Description, which
CloudFormation keeps: the run's ID, its purpose (``deploy``: it may execute it;
``review``: no terminal and no ``--yes``, so nothing will; ``plan``: never executed),
the caller's ARN, the host and the process. A change set counts as *in flight* (a
deploy refuses, exit 3) only while another live run can still execute it: purpose
``deploy``, not FAILED, and made by a process that is still running on this host, or,
from another host, younger than ``IN_FLIGHT_SECONDS`` measured on AWS's clock (the
``Date`` of its answer), never the local one. Everything else deploy.py left unexecuted
is *left over*: deleted before a new change set is created (``--keep-change-set`` keeps it).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime

from tools.lib.aws.cloudformation import CHANGE_SET_DESCRIPTION, ChangeSet, ResourceChange
from tools.lib.deploy.context import Ctx
from tools.lib.deploy.outcomes import DeployFailed
from tools.lib.deploy.parameters import stack_tags
from tools.lib.deploy.state import StackState
from tools.lib.errors import Refused
from tools.lib.journal import Entry

# How long a change set another host's deploy.py run made may still be about to run: its wait, its review and
# a terminal's yes. Younger than this (on AWS's clock) it belongs to a run in flight, and is never deleted.
IN_FLIGHT_SECONDS = 30 * 60
PURPOSES = ("deploy", "review", "plan")
_OWNER = re.compile(r"run=(?P<run>\S+) purpose=(?P<purpose>\S+) by=(?P<by>\S+) host=(?P<host>\S+) pid=(?P<pid>\d+)")


@dataclass(frozen=True)
class Owner:
    """Which run made a change set, and for what: what a change set's Description says after deploy.py's words."""

    run: str
    purpose: str
    by: str
    host: str
    pid: int

    def description(self) -> str:
        """The change set's Description (CloudFormation keeps at most 1,024 characters)."""
        text = f"{CHANGE_SET_DESCRIPTION} run={self.run} purpose={self.purpose} by={self.by} host={self.host} "
        return (text + f"pid={self.pid}")[:1024]

    @classmethod
    def of(cls, description: str) -> Owner | None:
        """The owner a Description names (None: an older deploy.py, or not one of ours)."""
        found = _OWNER.search(description or "")
        if not found:
            return None
        return cls(found["run"], found["purpose"], found["by"], found["host"], int(found["pid"]))


def _host() -> str:
    return re.sub(r"\s+", "-", socket.gethostname() or "unknown")[:100]


def this_run(caller: str, purpose: str) -> Owner:
    """The owner this run writes into its change set."""
    return Owner(secrets.token_hex(6), purpose, caller or "unknown", _host(), os.getpid())


@dataclass(frozen=True)
class Created:
    """A change set this run created, and its journal entry."""

    change_set: ChangeSet
    entry: Entry


@dataclass(frozen=True)
class Others:
    """Change sets other runs left on the stack: in flight (another live run may execute them) or left over."""

    in_flight: list[dict]
    left_over: list[dict]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def in_flight(summary: dict, now: datetime | None) -> bool:
    """Whether another live run may still execute this change set (see the module's docstring)."""
    if summary.get("Status") == "FAILED":
        return False  # it can never be executed
    owner = Owner.of(summary.get("Description", ""))
    if owner is not None and owner.purpose != "deploy":
        return False  # review and plan change sets are never executed by a run
    if owner is not None and owner.host == _host():
        return owner.pid != os.getpid() and _alive(owner.pid)
    created = summary.get("CreationTime")
    if now is None or created is None:
        return True  # its age cannot be measured on AWS's clock: it may be about to run
    return (now - created).total_seconds() < IN_FLIGHT_SECONDS


def other_runs(ctx: Ctx, state: StackState) -> Others:
    """Change sets other deploy.py runs made on the stack and did not execute: in flight, or left over."""
    if not state.stack_id:
        return Others([], [])
    summaries, now = ctx.stack.unexecuted_change_sets(state.stack_id)
    flying = [s for s in summaries if in_flight(s, now)]
    return Others(flying, [s for s in summaries if s not in flying])


def _who(summary: dict) -> str:
    owner = Owner.of(summary.get("Description", ""))
    if owner is None:
        return "an earlier deploy.py"
    return f"{owner.by} on {owner.host}"


def refuse_runs_in_flight(ctx: Ctx, state: StackState, *, plan: bool) -> list[dict]:
    """Another live run's change set may be about to execute: a deploy refuses; the left-over ones (one listing)."""
    others = other_runs(ctx, state)
    for summary in others.in_flight:
        name, arn = summary["ChangeSetName"], summary["ChangeSetId"]
        if plan:
            ctx.out.warning(
                f"{ctx.target.stack}: another run's change set {name} is waiting; this plan leaves it alone"
            )
            continue
        raise Refused(
            f"{ctx.target.stack}: refusing to deploy: another deploy is in flight: its change set {name} (made by "
            f"{_who(summary)}) may be about to run; wait for that run to end, or if it was abandoned, delete the "
            f"change set with: aws cloudformation delete-change-set --change-set-name {arn} --region "
            f"{ctx.target.region}, then rerun"
        )
    return others.left_over


def clean_left_over_change_sets(ctx: Ctx, left_over: list[dict], *, keep: bool) -> None:
    """Change sets earlier runs left unexecuted and no live run will execute: deleted (kept: --keep-change-set)."""
    for summary in left_over:
        name = summary["ChangeSetName"]
        if keep:
            ctx.out.progress(f"{ctx.target.stack}: kept unexecuted change set {name} (--keep-change-set)")
            continue
        with ctx.journal.attempt(
            f"change set {name}",
            done=f"deleted the unexecuted change set {name} of an earlier run",
            unsure=f"the unexecuted change set {name} of an earlier run may have been deleted",
            check=lambda arn=summary["ChangeSetId"], name=name: (
                f"the unexecuted change set {name} of an earlier run is "
                + ("still there" if ctx.stack.change_set_exists(arn) else "deleted")
            ),
        ):
            ctx.stack.delete_change_set(summary["ChangeSetId"])
        ctx.out.progress(f"{ctx.target.stack}: deleted the unexecuted change set {name} of an earlier run")


def change_set_name(ctx: Ctx) -> str:
    """A new change set's name: the moment, and a random suffix (two runs in one second differ)."""
    return f"arda-mail-{ctx.clock.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def create_change_set(
    ctx: Ctx,
    body: str,
    parameters: dict[str, str],
    state: StackState,
    owner: Owner,
    *,
    imports: list[dict] | None = None,
) -> Created:
    """Step 9: journal the change set by name, then submit it; the journal deletes it unless executed or kept.

    With ``imports`` (``ResourcesToImport``) it is an IMPORT change set (an adoption): no stack tags,
    which an import may not change; a new stack's tags come with the update after it.
    """
    name = change_set_name(ctx)
    region, stack = ctx.target.region, ctx.target.stack
    kind = "IMPORT" if imports else state.kind
    new_stack = state.kind == "CREATE"  # the change set makes a REVIEW_IN_PROGRESS stack to remove with it
    tags = {} if imports else stack_tags(ctx.target.config)
    by_hand = f"aws cloudformation delete-change-set --change-set-name {name} --stack-name {stack} --region {region}"
    if new_stack:
        by_hand += (
            f" and aws cloudformation delete-stack --stack-name {stack} --region {region} "
            "(only while it is REVIEW_IN_PROGRESS)"
        )
    with ctx.journal.making(
        f"change set {name}",
        undo=lambda: discard(ctx, name, new_stack),
        undone="the change set was deleted, nothing executed",
        absent="no change set was made (or it is gone), nothing executed",
        manual=f"nothing executed, but the change set could not be deleted: remove it with: {by_hand}",
    ) as entry:
        change_set = ctx.stack.create_change_set(
            name, body, parameters, tags, kind, owner.description(), resources_to_import=imports
        )
    entry.what = f"change set {change_set.id}"
    entry.undo = lambda: discard(ctx, change_set.id, new_stack)  # by its ARN, now that AWS said it
    return Created(change_set, entry)


def discard(ctx: Ctx, name: str, new_stack: bool) -> bool:
    """Delete a change set that will not run, and the empty stack it made; whether anything was there.

    Asked of CloudFormation by the change set's name and the stack's name, which this run
    chose before it asked for either: the change set may never have been made, or be gone.
    """
    removed = ctx.stack.delete_change_set(name)
    if new_stack:
        removed = ctx.stack.delete_review_stack() or removed
    return removed


def wait_for_changes(ctx: Ctx, created: Created) -> list[ResourceChange] | None:
    """Step 10: the change set's changes once it is ready; None when it has none (it is deleted then).

    DeployFailed when CloudFormation failed it for another reason, or it was not ready in time.
    """
    ready = ctx.stack.wait_for_change_set(created.change_set.id)
    if ready.no_changes:
        ctx.journal.undo(created.entry)
        ctx.journal.discard(created.entry)  # an empty change set changed nothing: not worth a word
        return None
    if ready.status == "FAILED":
        raise DeployFailed(f"{ctx.target.stack}: the change set failed: {ready.reason}")
    if ready.status != "CREATE_COMPLETE":
        raise DeployFailed(f"{ctx.target.stack}: the change set is still {ready.status} after {ready.elapsed:.0f}s")
    return list(ready.changes)


def check_change_set_account(ctx: Ctx, change_set: ChangeSet) -> None:
    """The change set must live in the configured account (a split STS endpoint could fool step 2)."""
    if change_set.account != ctx.target.account:
        raise Refused(
            f"{ctx.target.stack}: refusing to execute: the change set {change_set.id} is in account "
            f"{change_set.account}, but the instance config names {ctx.target.account}; nothing executed"
        )
