"""Patch 12: a CREATE change set joins the stack under review.

A CREATE change set for a stack that is already ``REVIEW_IN_PROGRESS`` makes a
second stack of the same name in moto; CloudFormation keeps the one stack (its
StackId) and adds the change set to it, and refuses a CREATE change set for a
stack that exists in any other state (``AlreadyExistsException``). Here it does both,
so a deploy after a change set left for review follows the stack it executes.
"""

from __future__ import annotations

from moto.cloudformation.exceptions import AlreadyExistsException
from moto.cloudformation.models import CloudFormationBackend

from tools.rehearsal.moto_compat import stacks
from tools.rehearsal.moto_compat.patching import wrap


def create_change_set(
    original, self, stack_name, change_set_name, template, parameters, description, change_set_type, *args, **kwargs
):
    existing = [s for s in self.stacks.values() if s.name == stack_name and s.status != "DELETE_COMPLETE"]
    request = (stack_name, change_set_name, template, parameters, description, change_set_type, *args)
    target = stacks.create_change_set_target(change_set_type, [s.status for s in existing])
    if target == "moto":
        return original(self, *request, **kwargs)
    if target == "refuse":
        raise AlreadyExistsException(stack_name)
    (stack,) = existing
    change_set_id, made = original(self, *request, **kwargs)
    del self.stacks[made]  # the second stack moto made: the change set belongs to the existing one
    change_set = self.change_sets[change_set_id]
    change_set.stack, change_set.stack_id = stack, stack.stack_id
    return change_set_id, stack.stack_id


def install() -> None:
    wrap(CloudFormationBackend, "create_change_set", create_change_set)
