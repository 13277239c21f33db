"""CloudFormation's resource import (``IMPORT`` change sets) as patch 20 plays it: plain functions (no moto).

What a ``CreateChangeSet`` of type ``IMPORT`` is refused for, in the order CloudFormation
checks (``refusal``), which stack it goes to (``target``), what its lookups fail it for
(``lookup_failure``), and what executing it records (``execution``). Where a rule or a
message comes from is in patch 20's docstring.

A template is a dict (its ``Resources`` section maps a logical ID to the resource's JSON);
a resource to import is an ``Import``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from tools.rehearsal import aws_data

STACK = "AWS::CloudFormation::Stack"
# The StatusReason of an import change set CloudFormation accepted (the User Guide's advice, verbatim).
STATUS_REASON = (
    "Verify that resources and their properties defined in the template match the intended configuration "
    "of the resource import to avoid unexpected changes."
)
# The stack states an import may start from: a stable stack (a new stack's import joins it under review).
UPDATABLE = (
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
)


@dataclass(frozen=True)
class Import:
    """One entry of ``ResourcesToImport``."""

    logical_id: str
    resource_type: str
    identifier: tuple[tuple[str, str], ...]  # (identifier property, its value), in the request's order

    @property
    def value(self) -> str:
        """The identifier's value (the physical ID CloudFormation shows); several values joined by ``|``."""
        return "|".join(v for _, v in self.identifier)


# -- the request ------------------------------------------------------------------------------------


def _entry(query: Mapping, prefix: str) -> str:
    value = query.get(prefix, "")
    return value[0] if isinstance(value, list) else value


def _numbers(query: Mapping, prefix: str) -> list[int]:
    """The N of every ``<prefix>.N.*`` key, in order."""
    found = set()
    for key in query:
        if key.startswith(prefix + "."):
            number = key[len(prefix) + 1 :].split(".", 1)[0]
            if number.isdigit():
                found.add(int(number))
    return sorted(found)


def parse(query: Mapping) -> list[Import]:
    """``ResourcesToImport`` of a query-protocol request (``ResourcesToImport.member.N.*``), in N's order."""
    found = []
    for n in _numbers(query, "ResourcesToImport.member"):
        base = f"ResourcesToImport.member.{n}"
        identifier = tuple(
            (
                _entry(query, f"{base}.ResourceIdentifier.entry.{m}.key"),
                _entry(query, f"{base}.ResourceIdentifier.entry.{m}.value"),
            )
            for m in _numbers(query, f"{base}.ResourceIdentifier.entry")
        )
        found.append(
            Import(_entry(query, f"{base}.LogicalResourceId"), _entry(query, f"{base}.ResourceType"), identifier)
        )
    return found


def identifier_properties(resource_type: str) -> tuple[str, ...] | None:
    """The properties that identify a resource of ``resource_type`` for an import (its schema's
    ``primaryIdentifier``); None when the type cannot be imported (no resource schema with a read handler:
    a custom resource, an unknown type)."""
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return None
    try:
        schema = aws_data.resource_schema(resource_type)
    except aws_data.UnknownType:
        return None
    if not (schema.get("handlers") or {}).get("read"):
        return None
    return tuple(pointer.rsplit("/", 1)[-1] for pointer in schema.get("primaryIdentifier") or ())


# -- where the change set goes ------------------------------------------------------------------------


def target(live_statuses: list[str]) -> Literal["new", "join", "existing", "refuse"]:
    """Where an import change set goes, given the statuses of the live stacks of its name.

    No stack: a new one (REVIEW_IN_PROGRESS); a stack under review: joins it; a stable stack: imports into
    it; a stack in any other state (in progress, ROLLBACK_COMPLETE, *_FAILED) cannot be updated.
    """
    if not live_statuses:
        return "new"
    if live_statuses == ["REVIEW_IN_PROGRESS"]:
        return "join"
    return "existing" if live_statuses[-1] in UPDATABLE else "refuse"


def not_updatable(stack_id: str, status: str) -> str:
    """CloudFormation's ValidationError for a change set on a stack it cannot update now."""
    return f"Stack:{stack_id} is in {status} state and can not be updated."


# -- refused at creation (ValidationError, nothing is made) ----------------------------------------------


def _names(names) -> str:
    return f"[{', '.join(names)}]"


def entry_refusal(
    imports: list[Import], resources: Mapping[str, dict], identifiers: Callable[[str], tuple[str, ...] | None]
) -> str | None:
    """What is wrong with the ``ResourcesToImport`` entries themselves, against the template's ``resources``."""
    if not imports:
        return "Must Provide at least one resource to import"
    for n, item in enumerate(imports, 1):
        if not item.identifier:
            return (
                f"1 validation error detected: Value null at 'resourcesToImport.{n}.member.resourceIdentifier' "
                "failed to satisfy constraint: Member must not be null"
            )
    ids = [i.logical_id for i in imports]
    if len(set(ids)) != len(ids):
        return "Every resource to import must have unique LogicalResourceId"
    absent = [i.logical_id for i in imports if i.logical_id not in resources]
    if absent:
        return f"The logical resource ids {_names(absent)} provided in ResourceToImport do not exist in the template."
    unsupported = [i.resource_type for i in imports if identifiers(i.resource_type) is None]
    if unsupported:
        return f"The following resource types are not supported for resource import: {','.join(unsupported)}"
    for item in imports:
        expected = identifiers(item.resource_type) or ()
        if sorted(k for k, _ in item.identifier) != sorted(expected):
            return f"Invalid resource identifier for resource type {item.resource_type}. Expected {_names(expected)}"
    for item in imports:
        declared = resources[item.logical_id].get("Type")
        if declared != item.resource_type:
            return (
                f"Resource type of [{item.logical_id}] passed in ResourceToImport does not match with resource type "
                f"defined in the template. Resource type in ResourceToImport: {item.resource_type}; "
                f"Resource type in Template: {declared}."
            )
    return None


def template_refusal(
    imports: list[Import], resources: Mapping[str, dict], existing: Collection[str], changed: Collection[str]
) -> str | None:
    """What the template does besides adding the imported resources.

    ``existing``: the logical IDs the stack holds now (none for a new stack); ``changed``: those of them the
    template would update or delete (CloudFormation's plan of the template without the imported resources).
    """
    listed = [i.logical_id for i in imports]
    new = [name for name in resources if name not in existing]
    if not new:
        return "The template should contain at least one new resource to import."
    held = [name for name in listed if name in existing]
    if held:
        return f"Resources {_names(held)} passed in ResourceToImport are already in a stack and cannot be imported."
    without_policy = [name for name in listed if "DeletionPolicy" not in resources[name]]
    if without_policy:
        return (
            f"The following resources to import {_names(without_policy)} must have DeletionPolicy attribute "
            "specified in the template."
        )
    unlisted = [name for name in new if name not in listed]
    if unlisted:
        return f"Resources {_names(unlisted)} is missing from ResourceToImport list"
    if changed:
        return (
            f"You have modified resources {_names(changed)} in your template that are not being imported. "
            "Update, create or delete operations cannot be executed during import operations."
        )
    return None


def stack_refusal(changed: Collection[str]) -> str | None:
    """The stack's own settings an import may not change (``changed``: among Outputs, RoleArn, Tags)."""
    if not changed:
        return None
    return f"As part of the import operation, you cannot modify or add {_names(sorted(changed))}"


def stack_changes(
    outputs: tuple[dict, dict], tags: tuple[dict, dict | None], role: tuple[str | None, str | None]
) -> list[str]:
    """Which of the stack's settings the import request changes: each pair is (the stack's now, requested).

    A request that names no tags or no role leaves them as they are.
    """
    changed = []
    if (outputs[0] or {}) != (outputs[1] or {}):
        changed.append("Outputs")
    if role[1] and role[1] != role[0]:
        changed.append("RoleArn")
    if tags[1] and tags[1] != (tags[0] or {}):
        changed.append("Tags")
    return changed


# -- failed after creation (a FAILED change set, or an IMPORT_FAILED resource) -----------------------------


def lookup_failure(item: Import, found: bool, owner_stack_id: str | None) -> str | None:
    """Why a resource cannot be imported: it does not exist, or a stack already holds it (its ID)."""
    if not found:
        return f"Resource of type '{item.resource_type}' with identifier '{item.value}' was not found."
    if owner_stack_id:
        return f"{item.value} already exists in stack {owner_stack_id}"
    return None


def failed_reason(logical_id: str) -> str:
    """The stack's reason for rolling an import back."""
    return f"The following resource(s) failed to import: [{logical_id}]. "


# -- the execution -------------------------------------------------------------------------------------

Event = tuple[str, str, str, str | None, str]  # (logical ID or "" for the stack, type, status, reason, physical ID)


def execution(imports: list[Import], failure: tuple[str, str] | None) -> tuple[list[Event], str]:
    """The events an import's execution records, oldest first, and the stack's final status.

    ``failure``: (logical ID, reason) of the first resource whose import failed, or None. The resources
    imported before it are rolled back (they leave the stack, and stay where they are: each has a
    DeletionPolicy); the stack ends IMPORT_ROLLBACK_COMPLETE.
    """
    events: list[Event] = [("", STACK, "IMPORT_IN_PROGRESS", "User Initiated", "")]
    done: list[Import] = []
    for item in imports:
        events.append((item.logical_id, item.resource_type, "IMPORT_IN_PROGRESS", None, item.value))
        if failure and failure[0] == item.logical_id:
            events.append((item.logical_id, item.resource_type, "IMPORT_FAILED", failure[1], item.value))
            events.append(("", STACK, "IMPORT_ROLLBACK_IN_PROGRESS", failed_reason(item.logical_id), ""))
            for undone in reversed(done):
                events.append((undone.logical_id, undone.resource_type, "IMPORT_ROLLBACK_COMPLETE", None, undone.value))
            events.append(("", STACK, "IMPORT_ROLLBACK_COMPLETE", None, ""))
            return events, "IMPORT_ROLLBACK_COMPLETE"
        events.append((item.logical_id, item.resource_type, "IMPORT_COMPLETE", None, item.value))
        done.append(item)
    events.append(("", STACK, "IMPORT_COMPLETE", None, ""))
    return events, "IMPORT_COMPLETE"
