"""Patch 9: termination protection, and ``ListChangeSets`` by stack.

Stack protections: moto has no ``UpdateTerminationProtection``, deletes a stack
whose termination protection is on, and ``ListChangeSets`` ignores ``StackName``
(every change set of the region comes back). CloudFormation refuses
``DeleteStack`` with "Stack [name] cannot be deleted while TerminationProtection
is enabled" and lists only the named stack's change sets; so do these patches.
``AWS::SecretsManager::Secret`` (patch 3) is deleted with its stack unless retained.
(Drift detection: patch 18.)
"""

from __future__ import annotations

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult

from tools.rehearsal.moto_compat.patching import wrap


def delete_stack(original, self, name_or_stack_id: str) -> None:
    for stack in list(self.stacks.values()):
        if name_or_stack_id in (stack.stack_id, stack.name) and stack.enable_termination_protection:
            raise ValidationError(
                message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled"
            )
    original(self, name_or_stack_id)


def update_termination_protection(self) -> ActionResult:
    name = self._get_param("StackName")
    stack = self.cloudformation_backend.get_stack(name)
    stack.enable_termination_protection = self._get_param("EnableTerminationProtection") in (True, "true")
    return ActionResult({"StackId": stack.stack_id})


def list_change_sets(self) -> ActionResult:
    name = self._get_param("StackName")
    stack = self.cloudformation_backend.get_stack(name)
    change_sets = [c for c in self.cloudformation_backend.list_change_sets() if c.stack_id == stack.stack_id]
    return ActionResult({"Summaries": change_sets})


def install() -> None:
    wrap(CloudFormationBackend, "delete_stack", delete_stack)
    CloudFormationResponse.update_termination_protection = update_termination_protection
    CloudFormationResponse.list_change_sets = list_change_sets
