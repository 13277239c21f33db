"""Patch 8: change sets list, run and roll back as CloudFormation's do.

Change sets ignore Conditions and run in the wrong order. moto lists and
creates resources whose condition is false, ignores parameter-only changes in
the change set's list, executes Removes *before* Adds, and has no rollback
("TODO: handle execution errors and implement rollback"). CloudFormation
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html
and the stack status codes of ``troubleshooting``/``stack-resource-statuses``)
works on the resources whose condition holds: a condition turning true adds the
resource, turning false removes it; it creates and updates first, and deletes
removed resources and replaced physical resources only afterwards, in
``UPDATE_COMPLETE_CLEANUP_IN_PROGRESS``. A record set whose ``Name``, ``Type``
or zone changes is replaced: the new one is created, the old one deleted in
cleanup. When a resource fails, the stack rolls back (``UPDATE_ROLLBACK_COMPLETE``,
or ``ROLLBACK_COMPLETE`` for a creation) with the resource's ``*_FAILED`` event
and its reason, and nothing of the update remains. Here the change set's list,
its execution order, the rollback and those events follow CloudFormation.
A rollback deletes what the failed update or creation added, except resources with
``DeletionPolicy: Retain`` (patch 16).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.cloudformation import models, parsing
from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Event
from moto.cloudformation.parsing import ResourceMap

from tools.rehearsal.iam_world import HandlerAccessDenied
from tools.rehearsal.moto_compat import change_sets
from tools.rehearsal.moto_compat.change_sets import Plan, Step, resource_status
from tools.rehearsal.moto_compat.controls import CONTROLS
from tools.rehearsal.moto_compat.patching import wrap


class StackOperationFailed(Exception):
    """A resource failed during a change set's execution; the stack was rolled back."""

    def __init__(self, logical_id: str, resource_type: str, status: str, reason: str) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.status = status
        self.reason = reason
        self.rollback_failures: list[tuple[str, str, str]] = []  # (logical ID, type, reason)


def _plan(resource_map, template: dict, parameters: dict | None) -> Plan:
    """The update of ``resource_map`` to ``template``: moto evaluates the new conditions and parameters."""
    new_map = ResourceMap(
        resource_map.stack_id,
        resource_map["AWS::StackName"],
        parameters if parameters is not None else resource_map.input_parameters,
        resource_map.tags,
        region_name=resource_map._region_name,
        account_id=resource_map._account_id,
        template=template,
        cross_stack_resources=resource_map.cross_stack_resources,
    )
    new_map.load_mapping()
    new_map.load_parameters()
    new_map.load_conditions()
    return change_sets.plan(
        resource_map._resource_json_map,
        template.get("Resources", {}),
        resource_map.lazy_condition_map,
        new_map.lazy_condition_map,
        resource_map.resolved_parameters,
        new_map.resolved_parameters,
    )


def diff(self) -> list:
    """ChangeSet.diff: the change set's list, as CloudFormation makes it."""
    update = _plan(self.stack.resource_map, self.template_dict, self.parameters)
    listed = update.changes(self.stack.resource_map._resource_json_map, self.template_dict.get("Resources", {}))
    changes = []
    for action, name, resource_type, replacement in listed:
        change = models.Change(action=action, logical_resource_id=name, resource_type=resource_type)
        if replacement is not None:
            change.replacement = replacement
        changes.append(change)
    return changes


@dataclass(frozen=True)
class Before:
    """A resource map as it was before an update: what a rollback puts back."""

    template: dict
    resources: dict  # the resources' JSON
    input_parameters: dict
    resolved_parameters: dict
    parsed: dict  # the resources themselves

    @classmethod
    def of(cls, resource_map) -> Before:
        return cls(
            resource_map._template,
            resource_map._resource_json_map,
            dict(resource_map.input_parameters),
            dict(resource_map.resolved_parameters),  # copies: loading the new parameters mutates them
            dict(resource_map._parsed_resources),
        )

    def restore(self, resource_map) -> None:
        # Parameters as they were resolved then (a creation's empty template has no
        # Parameters section to resolve them again).
        resource_map._template = self.template
        resource_map._resource_json_map = self.resources
        resource_map.input_parameters = self.input_parameters
        resource_map.resolved_parameters = self.resolved_parameters
        resource_map._parsed_resources = dict(self.parsed)
        resource_map.load_conditions()


def _real(resource) -> bool:
    """Whether moto made a resource object (not nothing, not a bare name) that can be deleted."""
    return resource is not None and not isinstance(resource, str)


def _note_event(self, logical_id, resource_type, status, reason=None, physical_id="") -> None:
    self.stack_events.append((logical_id, resource_type, status, reason, physical_id))


def update(self, template: dict, parameters: dict | None = None) -> None:
    """ResourceMap.update: creations and updates first, cleanup last; a failure rolls all of it back."""
    plan = _plan(self, template, parameters)
    before = Before.of(self)
    self.stack_events = []
    self._template = template
    if parameters is not None:
        self.input_parameters = parameters
    self.load_mapping()
    self.load_parameters()
    self.load_conditions()
    self._resource_json_map = template["Resources"]
    done: list[Step] = []
    for step in change_sets.steps(plan, template["Resources"]):
        kind, name = step
        try:
            _run(self, step)
        except Exception as exc:  # noqa: BLE001 - any resource failure fails the stack, as on AWS
            resource_type = template["Resources"][name]["Type"]
            _note_event(self, name, resource_type, resource_status(kind, "FAILED"), str(exc))
            failure = StackOperationFailed(name, resource_type, resource_status(kind, "FAILED"), str(exc))
            failure.rollback_failures = _roll_back(self, before, done)
            raise failure from None
        done.append(step)
        _note_event(self, name, template["Resources"][name]["Type"], resource_status(kind, "COMPLETE"))
    for kind, name in change_sets.cleanup(plan):
        resource = before.parsed.get(name)
        if kind == "delete-replaced":
            if resource is not None:
                self._delete_resource(resource, before.resources[name])
            continue
        if _real(resource):
            self._delete_resource(resource, before.resources[name])
        self._parsed_resources.pop(name, None)
        _note_event(self, name, before.resources[name]["Type"], resource_status("delete", "COMPLETE"))


def _run(self, step: Step) -> None:
    """One step of an update: create a resource, update it in place, or create its replacement."""
    kind, name = step
    if kind == "create":
        _ = self[name]  # created now, or already as a dependency of an earlier one
        return
    if kind == "replace":
        self._parsed_resources.pop(name, None)
        new = self[name]
    else:
        new = parsing.parse_and_update_resource(
            name, self._resource_json_map[name], self, account_id=self._account_id, region_name=self._region_name
        )
    if new is not None:
        self._parsed_resources[name] = new


def _roll_back(self, before: Before, done: list[Step]) -> list[tuple[str, str, str]]:
    """Undo the failed operation; the resources whose undoing failed (a rollback acts as the caller too)."""
    added = [n for n in self._parsed_resources if n not in before.parsed]
    undo = change_sets.rollback(added, self._resource_json_map, done, CONTROLS.retain_except_on_create)
    failures: list[tuple[str, str, str]] = []
    new = self._resource_json_map
    for name in reversed(added):  # newest first; the kept ones leave the stack too
        resource = self._parsed_resources.pop(name)
        if name in undo.delete and _real(resource):
            _attempt(failures, name, new[name], lambda r=resource, n=name: self._delete_resource(r, new[n]))
    for name in undo.delete_replacements:
        resource = self._parsed_resources.get(name)
        if resource is not None and resource is not before.parsed.get(name):
            _attempt(failures, name, new[name], lambda r=resource, n=name: self._delete_resource(r, new[n]))
    before.restore(self)
    for name in undo.restore:
        original, old = before.parsed.get(name), before.resources[name]
        if original is None:
            continue
        restored = _attempt(
            failures,
            name,
            old,
            lambda n=name, old=old: parsing.parse_and_update_resource(
                n, old, self, account_id=self._account_id, region_name=self._region_name
            ),
        )
        self._parsed_resources[name] = restored if restored is not None else original
    return failures


def _attempt(failures: list, name: str, resource_json: dict, action: Callable[[], Any]) -> Any:
    """``action``'s answer, or None when the caller may not: the refusal joins ``failures``."""
    try:
        return action()
    except HandlerAccessDenied as denied:
        failures.append((name, resource_json.get("Type", ""), str(denied)))
        return None


def _moto_event(stack, logical_id, resource_type, status, reason=None, physical_id="") -> Event:
    return Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=physical_id,
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )


def execute_change_set(original, self, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = self.describe_change_set(change_set_name)
    stack = self.stacks[change_set.stack_id]
    try:
        original(self, change_set_name, stack_name)
    except StackOperationFailed as failure:
        _record_events(stack, failure_events=True)
        rolling, reason, end = change_sets.rollback_statuses(
            change_set.change_set_type == "CREATE", failure.status, failure.logical_id, bool(failure.rollback_failures)
        )
        stack._add_stack_event(rolling, resource_status_reason=reason)
        for logical_id, resource_type, why in failure.rollback_failures:
            stack.events.append(_moto_event(stack, logical_id, resource_type, "DELETE_FAILED", why))
        stack._add_stack_event(end)
        stack.status = end
        change_set.execution_status = "EXECUTE_FAILED"
        return
    _record_events(stack, failure_events=False)
    stack.parameters = change_set.parameters


def _record_events(stack, failure_events: bool) -> None:
    pending = getattr(stack.resource_map, "stack_events", [])
    stack.resource_map.stack_events = []
    # Resource events belong before the stack's own closing event.
    closing = stack.events.pop() if stack.events and not failure_events else None
    for logical_id, resource_type, status, reason, physical_id in pending:
        stack.events.append(_moto_event(stack, logical_id, resource_type, status, reason, physical_id))
    if closing is not None:
        stack.events.append(closing)


def install() -> None:
    ChangeSet.diff = diff
    ResourceMap.update = update
    wrap(CloudFormationBackend, "execute_change_set", execute_change_set)
