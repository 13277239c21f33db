"""Patch 15: exports in use: ``ListImports``, and no deletion of a stack whose exports are imported.

Exports in use: moto has no ``ListImports`` and deletes a stack whose exports another
stack imports. CloudFormation (``Fn::ImportValue``: "you can't delete a stack if another
stack references one of its outputs") refuses: the deletion ends ``DELETE_FAILED`` naming
the importing stack; ``ListImports`` names the importers, or answers ValidationError "Export
'<name>' is not imported by any stack." Here both are so (imports written literally).
"""

from __future__ import annotations

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult

from tools.rehearsal.moto_compat import stacks
from tools.rehearsal.moto_compat.patching import wrap


def templates(backend) -> list[tuple[str, str, dict]]:
    """Every stack of the backend as (name, status, template)."""
    return [(s.name, s.status, getattr(s, "template_dict", None) or {}) for s in backend.stacks.values()]


def list_imports(self) -> ActionResult:
    name = self._get_param("ExportName")
    found = stacks.importers(templates(self.cloudformation_backend), name)
    if not found:
        raise ValidationError(message=f"Export '{name}' is not imported by any stack.")
    return ActionResult({"Imports": found})


def delete_stack(original, self, name_or_stack_id: str) -> None:
    for stack in list(self.stacks.values()):
        if name_or_stack_id not in (stack.stack_id, stack.name) or stack.enable_termination_protection:
            continue
        reason = stacks.exports_in_use(stack.name, [e.name for e in stack.exports], templates(self))
        if reason:
            stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
            stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
            stack.status = "DELETE_FAILED"
            return
    original(self, name_or_stack_id)


def install() -> None:
    CloudFormationResponse.list_imports = list_imports
    wrap(CloudFormationBackend, "delete_stack", delete_stack)
