"""Patch 6: a change set without changes is FAILED, not refused.

``CreateChangeSet`` with an unchanged template and parameters raises
``ValidationError: No updates are to be performed.`` at once, where
CloudFormation creates a FAILED change set ("The submitted information didn't
contain changes."). The early raise is removed so moto's own FAILED-change-set
path answers, as CloudFormation does.
"""

from __future__ import annotations

from moto.cloudformation.responses import CloudFormationResponse

from tools.rehearsal.moto_compat.patching import wrap


def validate_different_update(original, self, incoming_params, stack_body, old_stack):
    if getattr(self, "_compat_creating_change_set", False):
        return None
    return original(self, incoming_params, stack_body, old_stack)


def create_change_set(original, self):
    self._compat_creating_change_set = True
    try:
        return original(self)
    finally:
        self._compat_creating_change_set = False


def install() -> None:
    wrap(CloudFormationResponse, "_validate_different_update", validate_different_update)
    wrap(CloudFormationResponse, "create_change_set", create_change_set)
