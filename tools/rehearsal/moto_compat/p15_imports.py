"""Patch 15: exports in use: ``ListImports``, and no deletion of a stack whose exports are imported.

Exports in use: moto has no ``ListImports`` and deletes a stack whose exports another
stack imports. CloudFormation (``Fn::ImportValue``: "you can't delete a stack if another
stack references one of its outputs") refuses: the deletion ends ``DELETE_FAILED`` naming
the importing stack; ``ListImports`` names the importers, or answers ValidationError "Export
'<name>' is not imported by any stack." Here both are so (imports written literally).
"""

from __future__ import annotations

import json

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult

from tools.rehearsal.moto_compat.patching import wrap


def importers(backend, export_name: str) -> list[str]:
    found = []
    for stack in backend.stacks.values():
        if stack.status.startswith("DELETE_COMPLETE"):
            continue
        text = json.dumps(getattr(stack, "template_dict", None) or {}, default=str)
        if json.dumps({"Fn::ImportValue": export_name})[1:-1] in text:
            found.append(stack.name)
    return sorted(set(found))


def list_imports(self) -> ActionResult:
    name = self._get_param("ExportName")
    found = importers(self.cloudformation_backend, name)
    if not found:
        raise ValidationError(message=f"Export '{name}' is not imported by any stack.")
    return ActionResult({"Imports": found})


def delete_stack(original, self, name_or_stack_id: str) -> None:
    for stack in list(self.stacks.values()):
        if name_or_stack_id not in (stack.stack_id, stack.name) or stack.enable_termination_protection:
            continue
        for export in stack.exports:
            users = [u for u in importers(self, export.name) if u != stack.name]
            if users:
                reason = f"Export {export.name} cannot be deleted as it is in use by {', '.join(users)}"
                stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
                stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
                stack.status = "DELETE_FAILED"
                return
    original(self, name_or_stack_id)


def install() -> None:
    CloudFormationResponse.list_imports = list_imports
    wrap(CloudFormationBackend, "delete_stack", delete_stack)
