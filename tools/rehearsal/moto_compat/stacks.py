"""CloudFormation's rules for stacks and change sets as patches 12, 15 and 16 apply them (no moto).

Stacks and change sets are read through their attributes only (``name``, ``status``,
``change_set_name``, ...), so plain objects stand in for moto's in the tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal


def importers(stacks: Iterable[tuple[str, str, dict]], export_name: str) -> list[str]:
    """The stacks whose template imports ``export_name`` (``Fn::ImportValue`` written literally), by name.

    ``stacks``: (name, status, template); deleted stacks import nothing.
    """
    wanted = json.dumps({"Fn::ImportValue": export_name})[1:-1]
    found = {
        name
        for name, status, template in stacks
        if not status.startswith("DELETE_COMPLETE") and wanted in json.dumps(template or {}, default=str)
    }
    return sorted(found)


def exports_in_use(stack_name: str, export_names: list[str], stacks: list[tuple[str, str, dict]]) -> str | None:
    """Why CloudFormation refuses to delete ``stack_name``: the first of its exports another stack imports."""
    for export in export_names:
        users = [u for u in importers(stacks, export) if u != stack_name]
        if users:
            return f"Export {export} cannot be deleted as it is in use by {', '.join(users)}"
    return None


def find_change_set(change_sets: dict[str, Any], name_or_arn: str, stack_name: str | None) -> Any:
    """A change set by ARN, or by name within ``stack_name`` (any stack when none is given)."""
    if name_or_arn in change_sets:
        return change_sets[name_or_arn]
    for change_set in change_sets.values():
        if change_set.change_set_name == name_or_arn and stack_name in (None, "", change_set.stack_name):
            return change_set
    return None


def execution(status: str, token: str | None, first_token: str | None) -> Literal["execute", "again", "refuse"]:
    """``ExecuteChangeSet`` of a change set in ``status``: execute it, answer a retry as before, or refuse.

    A retry carries the first request's ``ClientRequestToken``; without it a second execution
    is refused (``InvalidChangeSetStatus``).
    """
    if status == "AVAILABLE":
        return "execute"
    return "again" if token and token == first_token else "refuse"


def creation(
    existing_status: str | None, token: str | None, first_token: str | None
) -> Literal["create", "again", "refuse"]:
    """``CreateChangeSet`` of a name held by a change set in ``existing_status`` (None: no such change set).

    An executed change set does not hold its name (aws-cli reuses names per second); a retry
    carrying the first request's ``ClientToken`` is answered as before; anything else is
    refused (``AlreadyExistsException``).
    """
    if existing_status in (None, "EXECUTE_COMPLETE"):
        return "create"
    return "again" if token and token == first_token else "refuse"


def create_change_set_target(change_set_type: str, live_statuses: list[str]) -> Literal["moto", "join", "refuse"]:
    """Where a new change set goes, given the statuses of the live stacks of its name.

    A CREATE change set for a stack under review joins that stack; for a stack in any other
    state it is refused (``AlreadyExistsException``); everything else is moto's own.
    """
    if change_set_type != "CREATE" or not live_statuses:
        return "moto"
    return "join" if live_statuses == ["REVIEW_IN_PROGRESS"] else "refuse"
