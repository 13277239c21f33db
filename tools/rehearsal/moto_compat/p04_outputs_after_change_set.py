"""Patch 4: an executed change set's outputs and exports.

Executing a change set does not compute the stack's outputs or register its
exports: they are recomputed after execution. The outputs so computed refer to the
stack's resources, which a deletion removes: a deleted stack (``DescribeStacks`` by its
StackId still shows it, ``DELETE_COMPLETE``) has no outputs, as on AWS, instead of an
HTML 500 from evaluating them.
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


def outputs(original, self):
    if self.status == "DELETE_COMPLETE":
        return None
    return original(self)


def install() -> None:
    wrap(CloudFormationBackend, "execute_change_set", execute_change_set)
    Stack.outputs = property(lambda self, original=Stack.outputs.fget: outputs(original, self))
