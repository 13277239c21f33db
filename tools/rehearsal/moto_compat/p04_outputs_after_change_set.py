"""Patch 4: an executed change set's outputs and exports.

Executing a change set does not compute the stack's outputs or register its
exports: they are recomputed after execution.
"""

from __future__ import annotations

from moto.cloudformation.models import CloudFormationBackend

from tools.rehearsal.moto_compat.patching import wrap


def execute_change_set(original, self, change_set_name: str, stack_name: str | None = None) -> None:
    original(self, change_set_name, stack_name)
    for stack in self.stacks.values():
        if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            stack._parse_template()
            stack.output_map = stack._create_output_map()
            for export in stack.exports:
                self.exports[export.name] = export


def install() -> None:
    wrap(CloudFormationBackend, "execute_change_set", execute_change_set)
