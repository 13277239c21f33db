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

from moto.cloudformation import models, parsing
from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Event
from moto.cloudformation.parsing import ResourceMap, get_references_from_template

from tools.rehearsal.iam_world import HandlerAccessDenied
from tools.rehearsal.moto_compat.controls import CONTROLS
from tools.rehearsal.moto_compat.patching import wrap
from tools.rehearsal.moto_compat.route53 import same_name


class StackOperationFailed(Exception):
    """A resource failed during a change set's execution; the stack was rolled back."""

    def __init__(self, logical_id: str, resource_type: str, status: str, reason: str) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.status = status
        self.reason = reason
        self.rollback_failures: list[tuple[str, str, str]] = []  # (logical ID, type, reason)


def _condition_holds(resource_json: dict, conditions) -> bool:
    condition = resource_json.get("Condition")
    return not condition or bool(conditions[condition])


def _resolve_simple(value, parameters: dict):
    """Ref to a parameter and Fn::Join, enough to compare a record's Name/Type; None if not simple."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters.get(value["Ref"])
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        resolved = [_resolve_simple(part, parameters) for part in parts]
        return None if any(r is None for r in resolved) else separator.join(resolved)
    return None


def _record_replaced(old_json: dict, new_json: dict, old_params: dict, new_params: dict) -> bool:
    """Whether an AWS::Route53::RecordSet update replaces it (its Name, Type or zone changes)."""
    if new_json.get("Type") != "AWS::Route53::RecordSet":
        return False
    old_props, new_props = old_json.get("Properties", {}), new_json.get("Properties", {})
    for key in ("Name", "Type"):
        old = _resolve_simple(old_props.get(key), old_params)
        new = _resolve_simple(new_props.get(key), new_params)
        if old is None or new is None or not same_name(old, new):
            return True
    return old_props.get("HostedZoneId") != new_props.get("HostedZoneId")


def _plan(resource_map, template: dict, parameters: dict | None):
    """CloudFormation's view of an update: Add / Modify / Remove among resources whose condition holds."""
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
    old_json = resource_map._resource_json_map
    new_json = template.get("Resources", {})
    old_live = {n for n, j in old_json.items() if _condition_holds(j, resource_map.lazy_condition_map)}
    new_live = [n for n, j in new_json.items() if _condition_holds(j, new_map.lazy_condition_map)]
    old_params, new_params = resource_map.resolved_parameters, new_map.resolved_parameters
    changed = {p for p in set(old_params) | set(new_params) if old_params.get(p) != new_params.get(p)}
    adds = [n for n in new_live if n not in old_live]
    removes = [n for n in old_json if n in old_live and n not in new_live]
    modifies, replaced = [], set()
    for name in new_live:
        if name in old_live and (
            new_json[name] != old_json[name] or changed & set(get_references_from_template(new_json[name]))
        ):
            modifies.append(name)
            if _record_replaced(old_json[name], new_json[name], old_params, new_params):
                replaced.add(name)
    return adds, modifies, removes, replaced


def diff(self):
    adds, modifies, removes, replaced = _plan(self.stack.resource_map, self.template_dict, self.parameters)
    new_json = self.template_dict.get("Resources", {})
    old_json = self.stack.resource_map._resource_json_map
    changes = []
    for action, names in (("Add", adds), ("Modify", modifies), ("Remove", removes)):
        for name in names:
            change = models.Change(
                action=action,
                logical_resource_id=name,
                resource_type=(new_json.get(name) or old_json[name])["Type"],
            )
            if action == "Modify":
                change.replacement = "True" if name in replaced else "False"
            changes.append(change)
    return changes


def event(self, logical_id, resource_type, status, reason=None, physical_id=""):
    self.stack_events.append((logical_id, resource_type, status, reason, physical_id))


def update(self, template, parameters=None):
    adds, modifies, removes, replaced = _plan(self, template, parameters)
    saved = (
        self._template,
        self._resource_json_map,
        dict(self.input_parameters),
        dict(self.resolved_parameters),  # copies: loading the new parameters mutates them
        dict(self._parsed_resources),
    )
    old_json = self._resource_json_map
    self.stack_events = []
    self._template = template
    if parameters is not None:
        self.input_parameters = parameters
    self.load_mapping()
    self.load_parameters()
    self.load_conditions()
    self._resource_json_map = template["Resources"]
    done_modifies, superseded = [], []
    current, status = None, None
    try:
        for name in adds:
            current, status = name, "CREATE_FAILED"
            _ = self[name]  # created now, or already as a dependency of an earlier one
            event(self, name, template["Resources"][name]["Type"], "CREATE_COMPLETE")
        for name in modifies:
            current, status = name, "UPDATE_FAILED"
            resource_json = self._resource_json_map[name]
            original = self._parsed_resources.get(name)
            if name in replaced:
                self._parsed_resources.pop(name, None)
                new = self[name]
                superseded.append((original, old_json[name]))
            else:
                new = parsing.parse_and_update_resource(
                    name, resource_json, self, account_id=self._account_id, region_name=self._region_name
                )
            if new is not None:
                self._parsed_resources[name] = new
            done_modifies.append((name, original))
            event(self, name, resource_json["Type"], "UPDATE_COMPLETE")
    except Exception as exc:  # noqa: BLE001 - any resource failure fails the stack, as on AWS
        failed_type = (template["Resources"].get(current) or old_json[current])["Type"]
        event(self, current, failed_type, status, str(exc))
        failure = StackOperationFailed(current, failed_type, status, str(exc))
        failure.rollback_failures = _roll_back(self, saved, adds, done_modifies, replaced, old_json)
        raise failure from None
    # Cleanup: removed resources and replaced physical resources go last.
    for name in removes:
        resource = saved[4].get(name)
        if resource is not None and not isinstance(resource, str):
            self._delete_resource(resource, old_json[name])
        self._parsed_resources.pop(name, None)
        event(self, name, old_json[name]["Type"], "DELETE_COMPLETE")
    for resource, resource_json in superseded:
        if resource is not None:
            self._delete_resource(resource, resource_json)


def _roll_back(self, saved, adds, done_modifies, replaced, old_json):
    """Undo the failed operation; the resources whose undoing failed (a rollback acts as the caller too)."""
    failures = []

    def undo(name, action) -> None:
        try:
            action()
        except HandlerAccessDenied as denied:
            resource_type = (self._resource_json_map.get(name) or old_json.get(name) or {}).get("Type", "")
            failures.append((name, resource_type, str(denied)))

    template, json_map, input_parameters, resolved_parameters, parsed = saved
    added = [n for n in self._parsed_resources if n not in parsed]
    delete_retained = CONTROLS.retain_except_on_create
    for name in reversed(added):
        resource = self._parsed_resources.pop(name)
        retained = (self._resource_json_map.get(name) or {}).get("DeletionPolicy") == "Retain"
        if retained and not delete_retained:
            continue  # DeletionPolicy Retain: the new resource stays, outside any stack (patch 16)
        if resource is not None and not isinstance(resource, str):
            undo(name, lambda r=resource, n=name: self._delete_resource(r, self._resource_json_map[n]))
    for name, original in done_modifies:
        if name in replaced:
            resource = self._parsed_resources.get(name)
            if resource is not None and resource is not original:
                undo(name, lambda r=resource, n=name: self._delete_resource(r, self._resource_json_map[n]))
    # Back to the state before the update: parameters as they were resolved then (a
    # creation's empty template has no Parameters section to resolve them again).
    self._template = template
    self._resource_json_map = json_map
    self.input_parameters = input_parameters
    self.resolved_parameters = resolved_parameters
    self._parsed_resources = dict(parsed)
    self.load_conditions()
    for name, original in done_modifies:
        if name not in replaced and original is not None:
            restored = []
            undo(
                name,
                lambda n=name, restored=restored: restored.append(
                    parsing.parse_and_update_resource(
                        n, old_json[n], self, account_id=self._account_id, region_name=self._region_name
                    )
                ),
            )
            self._parsed_resources[name] = restored[0] if restored and restored[0] is not None else original
    return failures


def execute_change_set(original, self, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = self.describe_change_set(change_set_name)
    stack = self.stacks[change_set.stack_id]
    creating = change_set.change_set_type == "CREATE"
    try:
        original(self, change_set_name, stack_name)
    except StackOperationFailed as failure:
        _record_events(stack, failure_events=True)
        prefix = "ROLLBACK" if creating else "UPDATE_ROLLBACK"
        verb = "create" if failure.status == "CREATE_FAILED" else "update"
        stack._add_stack_event(
            f"{prefix}_IN_PROGRESS",
            resource_status_reason=f"The following resource(s) failed to {verb}: [{failure.logical_id}]. ",
        )
        for logical_id, resource_type, reason in failure.rollback_failures:
            stack.events.append(
                Event(
                    stack_id=stack.stack_id,
                    stack_name=stack.name,
                    logical_resource_id=logical_id,
                    physical_resource_id="",
                    resource_type=resource_type,
                    resource_status="DELETE_FAILED",
                    resource_status_reason=reason,
                    resource_properties=None,
                )
            )
        end = f"{prefix}_FAILED" if failure.rollback_failures else f"{prefix}_COMPLETE"
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
        stack.events.append(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=logical_id,
                physical_resource_id=physical_id,
                resource_type=resource_type,
                resource_status=status,
                resource_status_reason=reason,
                resource_properties=None,
            )
        )
    if closing is not None:
        stack.events.append(closing)


def install() -> None:
    ChangeSet.diff = diff
    ResourceMap.update = update
    wrap(CloudFormationBackend, "execute_change_set", execute_change_set)
