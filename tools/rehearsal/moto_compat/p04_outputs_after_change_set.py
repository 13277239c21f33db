"""Patch 4: an executed change set's outputs and exports.

Executing a change set does not compute the stack's outputs or register its
exports: they are recomputed after execution. The outputs so computed refer to the
stack's resources, which a deletion removes: a deleted stack (``DescribeStacks`` by its
StackId still shows it, ``DELETE_COMPLETE``) has no outputs, as on AWS, instead of an
HTML 500 from evaluating them. A stack whose deletion is under way or failed
(``DELETE_IN_PROGRESS``, ``DELETE_FAILED``) shows the outputs it had when the deletion
began, as AWS keeps them: moto evaluated them again, and created anew (with the caller's
permissions, patch 14) every resource the deletion had already removed.
"""

from __future__ import annotations

from moto.cloudformation.models import CloudFormationBackend, Stack

from tools.rehearsal.moto_compat.patching import wrap


def execute_change_set(original, self, change_set_name: str, stack_name: str | None = None) -> None:
    original(self, change_set_name, stack_name)
    for stack in self.stacks.values():
        if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            stack._parse_template()
            stack.output_map = stack._create_output_map()
            for export in stack.exports:
                self.exports[export.name] = export


def delete_stack(original, self, name_or_stack_id: str) -> None:
    for stack in list(self.stacks.values()):
        if name_or_stack_id in (stack.stack_id, stack.name) and not stack.status.startswith("DELETE_"):
            stack.compat_outputs = stack.outputs  # as they are before anything is deleted
    original(self, name_or_stack_id)


def outputs(original, self):
    if self.status == "DELETE_COMPLETE":
        return None
    if self.status.startswith("DELETE_") and hasattr(self, "compat_outputs"):
        return self.compat_outputs
    return original(self)


def install() -> None:
    wrap(CloudFormationBackend, "execute_change_set", execute_change_set)
    wrap(CloudFormationBackend, "delete_stack", delete_stack)
    Stack.outputs = property(lambda self, original=Stack.outputs.fget: outputs(original, self))
