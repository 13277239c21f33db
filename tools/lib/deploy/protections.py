"""The stack's protections: termination protection on, and the stack policy that keeps the zone and webhook secret.

``protect`` runs after every deploy (also one with no changes) and puts back what
someone turned off. ``lift_termination_protection`` is the one place a protection
is loosened (``--destroy``): it journals how to turn it back on, so a deletion that
fails or is interrupted leaves the stack protected again.
"""

from __future__ import annotations

import json

from templates.partition_email import stack_policy
from tools.lib.deploy.context import Ahead, Ctx
from tools.lib.journal import Entry


def missing_protections(ctx: Ctx, stack: dict) -> list[str]:
    """Which protections the stack lacks now, as phrases ("termination protection is off", ...)."""
    missing = []
    if not stack.get("EnableTerminationProtection"):
        missing.append("termination protection is off")
    if _policy_missing(ctx.stack.policy(stack["StackId"])):
        missing.append("the stack policy is not set")
    return missing


# ``protect``'s ``policy`` when this run has not read the stack's policy: it asks CloudFormation.
UNREAD = object()


def protect(ctx: Ctx, stack: dict, policy: object = UNREAD) -> None:
    """Termination protection on, and the stack policy that keeps the zone and webhook secret in place.

    ``policy`` is the stack's policy body as this run already read it (None: none; a stack
    this run created has none), so it is not asked again; ``UNREAD``: asked now.
    """
    name = ctx.target.stack
    ref = stack.get("StackId") or name
    if not stack.get("EnableTerminationProtection"):
        ctx.stack.set_termination_protection(ref, True)
        ctx.out.progress(f"{name}: termination protection turned on")
    current = ctx.stack.policy(ref) if policy is UNREAD else policy
    if _policy_missing(current):
        _set_policy(ctx, ref)


def protect_settled(ctx: Ctx, stack_id: str, policy: object = UNREAD) -> dict:
    """After an execution: the settled stack, read and protected; the settled stack (its exports are printed).

    When the run already knows the stack policy is missing (``policy``, as ``protect``; a
    stack this run created has none), it is set while the settled stack is read beside it:
    one round trip for both. Termination protection waits for that read (a stack made
    from a change set earlier may have it already). The writes are made one after the
    other by this thread, so a signal meets at most one in flight.
    """
    with Ahead(ctx) as ahead_:  # a failed write does not leave the read running behind the run
        settled = ahead_(ctx.stack.describe)
        if policy is not UNREAD and _policy_missing(policy):
            _set_policy(ctx, stack_id or ctx.target.stack)
            policy = json.dumps(stack_policy())
        stack = settled() or {}
    protect(ctx, stack, policy)
    return stack


def _policy_missing(current: object) -> bool:
    return not current or json.loads(str(current)) != stack_policy()


def _set_policy(ctx: Ctx, ref: str) -> None:
    ctx.stack.set_policy(ref, json.dumps(stack_policy()))
    ctx.out.progress(
        f"{ctx.target.stack}: stack policy set (no update may replace or delete the zone or webhook secret)"
    )


def lift_termination_protection(ctx: Ctx, stack: dict) -> Entry | None:
    """Turn termination protection off for a deletion; the journal turns it on again unless the stack goes.

    Journaled before the request: stopped at any point, the protection is put back if the
    stack is still there (asked of CloudFormation, so putting it back twice is harmless).
    """
    if not stack.get("EnableTerminationProtection"):
        return None
    name, ref, region = ctx.target.stack, stack["StackId"], ctx.target.region

    def restore() -> bool:
        if ctx.stack.describe_by_id(ref) is None:
            return False  # the stack is gone, and its protection with it
        ctx.stack.set_termination_protection(ref, True, what="(restore)")
        return True

    with ctx.journal.making(
        f"termination protection of {name}",
        undo=restore,
        undone="termination protection was turned back on",
        absent="the stack is gone, with its termination protection",
        manual=(
            "termination protection may be off: turn it on with: aws cloudformation update-termination-protection "
            f"--enable-termination-protection --stack-name {name} --region {region}"
        ),
        done="the stack was deleted with its termination protection",
    ) as entry:
        ctx.stack.set_termination_protection(ref, False)
    ctx.out.progress(f"{name}: termination protection turned off")
    return entry
