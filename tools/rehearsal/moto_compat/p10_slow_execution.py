"""Patch 10: (tests) an executed change set takes its time.

Timing, for tests only: ``CONTROLS.slow_execution`` seconds (``math.inf``: never) keeps an
executed change set's stack ``*_IN_PROGRESS`` that long before its events and final
status appear, as a slow custom resource or replacement would on AWS.
"""

from __future__ import annotations

import math
import threading

from moto.cloudformation.models import CloudFormationBackend

from tools.rehearsal.moto_compat.controls import CONTROLS
from tools.rehearsal.moto_compat.patching import wrap


def execute_change_set(original, self, change_set_name: str, stack_name: str | None = None) -> None:
    delay = CONTROLS.slow_execution
    if not delay:
        return original(self, change_set_name, stack_name)
    change_set = self.describe_change_set(change_set_name)
    stack = self.stacks[change_set.stack_id]
    kind = change_set.change_set_type
    events_before = len(stack.events)
    original(self, change_set_name, stack_name)
    # Hold back what the execution produced; show it once the delay has passed.
    held, stack.events = stack.events[events_before:], stack.events[:events_before]
    final, stack.status = stack.status, f"{kind}_IN_PROGRESS"
    stack._add_stack_event(f"{kind}_IN_PROGRESS", resource_status_reason="User Initiated")

    def settle() -> None:
        stack.events.extend(held[1:] if held else [])
        stack.status = final

    if math.isfinite(delay):
        threading.Timer(delay, settle).start()


def install() -> None:
    wrap(CloudFormationBackend, "execute_change_set", execute_change_set)
