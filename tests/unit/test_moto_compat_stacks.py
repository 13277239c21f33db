"""CloudFormation's rules for stacks and change sets (patches 12, 15, 16), without moto."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tools.rehearsal.moto_compat.stacks import (
    create_change_set_target,
    creation,
    execution,
    exports_in_use,
    find_change_set,
    importers,
)

SHARED = {"Outputs": {"Zone": {"Export": {"Name": "shared-zone"}}}}
USER = {"Resources": {"R": {"Properties": {"HostedZoneId": {"Fn::ImportValue": "shared-zone"}}}}}
STACKS = [
    ("shared", "CREATE_COMPLETE", SHARED),
    ("user-b", "UPDATE_COMPLETE", USER),
    ("user-a", "CREATE_COMPLETE", USER),
    ("gone", "DELETE_COMPLETE", USER),
]


def test_the_importers_of_an_export_are_the_live_stacks_naming_it():
    assert importers(STACKS, "shared-zone") == ["user-a", "user-b"]
    assert importers(STACKS, "shared") == [], "a name, not a prefix"


def test_a_stack_whose_export_is_imported_is_not_deleted():
    assert exports_in_use("shared", ["shared-zone"], STACKS) == (
        "Export shared-zone cannot be deleted as it is in use by user-a, user-b"
    )
    assert exports_in_use("user-a", [], STACKS) is None
    assert exports_in_use("shared", ["shared-zone"], STACKS[:1]) is None


def test_a_change_set_is_found_by_arn_or_by_name_within_its_stack():
    one = SimpleNamespace(change_set_name="cs", stack_name="a")
    two = SimpleNamespace(change_set_name="cs", stack_name="b")
    change_sets = {"arn:1": one, "arn:2": two}
    assert find_change_set(change_sets, "arn:2", None) is two
    assert find_change_set(change_sets, "cs", "b") is two
    assert find_change_set(change_sets, "cs", None) is one
    assert find_change_set(change_sets, "other", "a") is None


@pytest.mark.parametrize(
    ("status", "token", "first", "decision"),
    [
        ("AVAILABLE", None, None, "execute"),
        ("EXECUTE_COMPLETE", "run-1", "run-1", "again"),
        ("EXECUTE_COMPLETE", "run-2", "run-1", "refuse"),
        ("EXECUTE_COMPLETE", None, None, "refuse"),
    ],
)
def test_a_second_execution_is_the_first_answered_again_only_with_its_token(status, token, first, decision):
    assert execution(status, token, first) == decision


@pytest.mark.parametrize(
    ("existing", "token", "first", "decision"),
    [
        (None, None, None, "create"),
        ("EXECUTE_COMPLETE", None, None, "create"),  # an executed change set does not hold its name
        ("CREATE_COMPLETE", "one", "one", "again"),
        ("CREATE_COMPLETE", None, None, "refuse"),
        ("CREATE_COMPLETE", "two", "one", "refuse"),
    ],
)
def test_a_change_set_name_is_held_until_executed_and_a_retry_is_answered_again(existing, token, first, decision):
    assert creation(existing, token, first) == decision


def test_a_create_change_set_joins_a_stack_under_review_and_no_other():
    assert create_change_set_target("CREATE", []) == "moto"
    assert create_change_set_target("UPDATE", ["CREATE_COMPLETE"]) == "moto"
    assert create_change_set_target("CREATE", ["REVIEW_IN_PROGRESS"]) == "join"
    assert create_change_set_target("CREATE", ["CREATE_COMPLETE"]) == "refuse"
