"""CloudFormation's change sets as patch 8 plays them: plain functions over templates as dicts (no moto).

What an update does (``plan``: the resources added, modified, replaced and removed, among
those whose condition holds), the order it does it in (``steps``, then ``cleanup``), and
what a failed one undoes (``rollback``, ``rollback_statuses``). Resources are a template's
``Resources`` section; conditions map a condition's name to whether it holds; parameters
map a parameter's name to its resolved value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tools.rehearsal.moto_compat.route53 import same_name

RECORD_SET = "AWS::Route53::RecordSet"

Step = tuple[Literal["create", "update", "replace"], str]
Clean = tuple[Literal["delete", "delete-replaced"], str]


def references(template: Any) -> list[str]:
    """Every ``Ref`` target in a piece of template (resources and parameters alike)."""
    if isinstance(template, dict):
        return [found for key, value in template.items() for found in ([value] if key == "Ref" else references(value))]
    if isinstance(template, list):
        return [found for item in template for found in references(item)]
    return []


def _getatt_targets(template: Any) -> list[str]:
    if isinstance(template, dict):
        found = []
        for key, value in template.items():
            if key == "Fn::GetAtt":
                found.append(value[0] if isinstance(value, list) else str(value).split(".", 1)[0])
            else:
                found += _getatt_targets(value)
        return found
    if isinstance(template, list):
        return [found for item in template for found in _getatt_targets(item)]
    return []


def dependencies(resource_json: dict, resources: Mapping[str, Any]) -> set[str]:
    """The resources one resource waits for: those it refers to (Ref, Fn::GetAtt) and names in DependsOn."""
    depends = resource_json.get("DependsOn") or []
    named = set(references(resource_json)) | set(_getatt_targets(resource_json))
    named |= {depends} if isinstance(depends, str) else set(depends)
    return named & set(resources)


def creation_order(names: list[str], resources: Mapping[str, Any]) -> list[str]:
    """The order the world creates ``names`` in: CloudFormation's, one at a time.

    CloudFormation creates every resource whose dependencies exist at once, in parallel
    ("Resource dependencies": it "creates resources in parallel" unless one depends on
    another). One at a time, that is dependency layer by layer (template order within a
    layer): a resource late in the graph that fails finds every independent one created,
    and the rollback deletes them, as on AWS.
    """
    depth: dict[str, int] = {}

    def layer(name: str, path: tuple[str, ...]) -> int:
        if name not in depth:
            waits = dependencies(resources[name], resources) - set(path) - {name}
            depth[name] = 1 + max((layer(d, (*path, name)) for d in waits), default=-1)
        return depth[name]

    return sorted(names, key=lambda name: (layer(name, ()), names.index(name)))


def condition_holds(resource_json: dict, conditions: Mapping[str, Any]) -> bool:
    """Whether a resource exists under ``conditions`` (one without a ``Condition`` always does)."""
    condition = resource_json.get("Condition")
    return not condition or bool(conditions[condition])


def resolve_simple(value: Any, parameters: Mapping[str, Any]) -> Any:
    """Ref to a parameter and Fn::Join, enough to compare a record's Name/Type; None if not simple."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters.get(value["Ref"])
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        resolved = [resolve_simple(part, parameters) for part in parts]
        return None if any(r is None for r in resolved) else separator.join(resolved)
    return None


def record_replaced(old_json: dict, new_json: dict, old_params: Mapping, new_params: Mapping) -> bool:
    """Whether an AWS::Route53::RecordSet update replaces it (its Name, Type or zone changes).

    A Name or Type that cannot be resolved here counts as changed: replacing is the safe guess.
    """
    if new_json.get("Type") != RECORD_SET:
        return False
    old_props, new_props = old_json.get("Properties", {}), new_json.get("Properties", {})
    for key in ("Name", "Type"):
        old = resolve_simple(old_props.get(key), old_params)
        new = resolve_simple(new_props.get(key), new_params)
        if old is None or new is None or not same_name(old, new):
            return True
    return old_props.get("HostedZoneId") != new_props.get("HostedZoneId")


@dataclass(frozen=True)
class Plan:
    """CloudFormation's view of an update, each list in template order."""

    adds: list[str]
    modifies: list[str]
    removes: list[str]
    replaced: frozenset[str]  # among modifies

    def changes(self, old_resources: dict, new_resources: dict) -> list[tuple[str, str, str, str | None]]:
        """The change set's list: (action, logical ID, type, replacement: "True"/"False" for a Modify)."""
        listed = []
        for action, names in (("Add", self.adds), ("Modify", self.modifies), ("Remove", self.removes)):
            for name in names:
                resource_type = (new_resources.get(name) or old_resources[name])["Type"]
                replacement = ("True" if name in self.replaced else "False") if action == "Modify" else None
                listed.append((action, name, resource_type, replacement))
        return listed


def plan(
    old_resources: dict,
    new_resources: dict,
    old_conditions: Mapping[str, Any],
    new_conditions: Mapping[str, Any],
    old_params: Mapping[str, Any],
    new_params: Mapping[str, Any],
) -> Plan:
    """Add / Modify / Remove among the resources whose condition holds, before and after.

    A condition turning true adds its resource, turning false removes it; a resource is
    modified when its JSON changes or a parameter it refers to resolves differently.
    """
    old_live = {n for n, j in old_resources.items() if condition_holds(j, old_conditions)}
    new_live = [n for n, j in new_resources.items() if condition_holds(j, new_conditions)]
    changed = {p for p in set(old_params) | set(new_params) if old_params.get(p) != new_params.get(p)}
    modifies = [
        name
        for name in new_live
        if name in old_live
        and (new_resources[name] != old_resources[name] or changed & set(references(new_resources[name])))
    ]
    return Plan(
        adds=[n for n in new_live if n not in old_live],
        modifies=modifies,
        removes=[n for n in old_resources if n in old_live and n not in new_live],
        replaced=frozenset(
            n for n in modifies if record_replaced(old_resources[n], new_resources[n], old_params, new_params)
        ),
    )


def steps(update: Plan, resources: Mapping[str, Any] | None = None) -> list[Step]:
    """What runs first, in order: creations (``creation_order``), then updates (a replacement creates anew)."""
    adds = creation_order(update.adds, resources) if resources is not None else update.adds
    return [("create", n) for n in adds] + [
        ("replace" if n in update.replaced else "update", n) for n in update.modifies
    ]


def cleanup(update: Plan) -> list[Clean]:
    """What runs last, once every step succeeded: removed resources, then the replaced physical ones."""
    return [("delete", n) for n in update.removes] + [
        ("delete-replaced", n) for n in update.modifies if n in update.replaced
    ]


def resource_status(kind: str, outcome: Literal["COMPLETE", "FAILED"]) -> str:
    """A step's resource event: ``create``: CREATE_*, ``update`` and ``replace``: UPDATE_*, ``delete``: DELETE_*."""
    verb = {"create": "CREATE", "update": "UPDATE", "replace": "UPDATE", "delete": "DELETE"}[kind]
    return f"{verb}_{outcome}"


@dataclass(frozen=True)
class Rollback:
    """What undoing a failed update or creation does, in this order."""

    delete: list[str]  # resources it added, newest first
    keep: list[str]  # resources it added with DeletionPolicy Retain: they stay, outside any stack
    delete_replacements: list[str]  # the new physical resources of the replacements it did
    restore: list[str]  # resources it updated in place: updated back to their old JSON


def rollback(added: list[str], new_resources: dict, done: list[Step], retain_except_on_create: bool) -> Rollback:
    """The undoing of a failed operation: ``added`` are the resources it created (in creation order,
    dependencies included), ``done`` its steps that completed.

    New resources with ``DeletionPolicy: Retain`` stay unless the execution asked
    ``RetainExceptOnCreate`` (patch 16).
    """
    newest_first = list(reversed(added))
    kept = [
        n
        for n in newest_first
        if (new_resources.get(n) or {}).get("DeletionPolicy") == "Retain" and not retain_except_on_create
    ]
    return Rollback(
        delete=[n for n in newest_first if n not in kept],
        keep=kept,
        delete_replacements=[n for kind, n in done if kind == "replace"],
        restore=[n for kind, n in done if kind == "update"],
    )


def rollback_statuses(
    creating: bool, failed_status: str, logical_id: str, rollback_failed: bool
) -> tuple[str, str, str]:
    """The rollback after ``logical_id`` ended ``failed_status``: (in-progress status, its reason, final status).

    A failed creation rolls back to ROLLBACK_*, an update to UPDATE_ROLLBACK_*; a rollback
    that could not undo everything ends *_FAILED.
    """
    prefix = "ROLLBACK" if creating else "UPDATE_ROLLBACK"
    verb = "create" if failed_status == "CREATE_FAILED" else "update"
    reason = f"The following resource(s) failed to {verb}: [{logical_id}]. "
    return f"{prefix}_IN_PROGRESS", reason, f"{prefix}_FAILED" if rollback_failed else f"{prefix}_COMPLETE"
