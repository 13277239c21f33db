"""Patch 8's logic without moto: a change set's plan, its order, and what a rollback undoes, from plain templates.

The cases are the ones tests/e2e/test_moto_compat.py plays against the server.
"""

from __future__ import annotations

import pytest

from tools.rehearsal.moto_compat.change_sets import (
    Plan,
    cleanup,
    condition_holds,
    plan,
    record_replaced,
    references,
    resolve_simple,
    resource_status,
    rollback,
    rollback_statuses,
    steps,
)

ZONE = {"Type": "AWS::Route53::HostedZone", "Properties": {"Name": "example.test"}}
SLOT_NAME = {"Fn::Join": [".", [{"Ref": "Sel"}, "_domainkey.example.test"]]}


def record(name, value='"v"', zone=None, **extra) -> dict:
    properties = {"HostedZoneId": zone or {"Ref": "Zone"}, "Name": name, "Type": "TXT", "TTL": "60"}
    return {"Type": "AWS::Route53::RecordSet", **extra, "Properties": {**properties, "ResourceRecords": [value]}}


def plan_of(old: dict, new: dict, old_params=None, new_params=None, old_conditions=None, new_conditions=None):
    return plan(
        {"Zone": ZONE, **old},
        {"Zone": ZONE, **new},
        old_conditions or {},
        new_conditions or {},
        old_params or {},
        new_params or {},
    )


def test_references_are_every_ref_target():
    assert references({"A": [{"Ref": "Sel"}, {"Fn::Join": ["", [{"Ref": "Zone"}, "x"]]}], "B": "Ref"}) == [
        "Sel",
        "Zone",
    ]
    assert references("text") == []


def test_a_resource_exists_when_its_condition_holds():
    assert condition_holds({"Type": "X"}, {})
    assert condition_holds({"Condition": "HasSel"}, {"HasSel": True})
    assert not condition_holds({"Condition": "HasSel"}, {"HasSel": False})


@pytest.mark.parametrize(
    ("value", "resolved"),
    [
        ("a.example.test", "a.example.test"),
        ({"Ref": "Sel"}, "s1"),
        (SLOT_NAME, "s1._domainkey.example.test"),
        ({"Ref": "Unknown"}, None),
        ({"Fn::Join": [".", [{"Ref": "Unknown"}, "x"]]}, None),
        ({"Fn::GetAtt": ["Zone", "Name"]}, None),
    ],
)
def test_simple_values_resolve_and_others_do_not(value, resolved):
    assert resolve_simple(value, {"Sel": "s1"}) == resolved


@pytest.mark.parametrize(
    ("old", "new", "new_params", "replaced"),
    [
        (record(SLOT_NAME), record(SLOT_NAME), {"Sel": "s2"}, True),  # the name moves with its parameter
        (record("a.example.test"), record("A.example.test."), {"Sel": "s1"}, False),  # the same DNS name
        (record("a.example.test"), record("a.example.test", '"new"'), {"Sel": "s1"}, False),  # a value: in place
        (record("a.example.test"), record("a.example.test", zone="Z2"), {"Sel": "s1"}, True),  # another zone
        (record("a.example.test"), record({"Fn::GetAtt": ["Zone", "Name"]}), {"Sel": "s1"}, True),  # unknown: new
        (ZONE, {**ZONE, "Properties": {"Name": "other.test"}}, {"Sel": "s1"}, False),  # not a record set
    ],
)
def test_a_record_set_is_replaced_when_its_name_type_or_zone_changes(old, new, new_params, replaced):
    assert record_replaced(old, new, {"Sel": "s1"}, new_params) is replaced


def test_a_record_moving_to_another_logical_id_is_an_add_and_a_remove():
    moved = plan_of({"Pending": record("s1._domainkey.example.test")}, {"Active": record("s1._domainkey.example.test")})
    assert moved == Plan(adds=["Active"], modifies=[], removes=["Pending"], replaced=frozenset())


def test_a_parameter_only_change_modifies_what_refers_to_it():
    params = {"Sel": "s1"}
    renamed = plan_of(
        {"Slot": record(SLOT_NAME), "Gone": record("gone.example.test")},
        {"Slot": record(SLOT_NAME)},
        params,
        {"Sel": "s2"},
    )
    assert renamed == Plan(adds=[], modifies=["Slot"], removes=["Gone"], replaced=frozenset({"Slot"}))
    by_value = {"A": record("a.example.test", {"Ref": "Val"})}
    valued = plan_of(by_value, by_value, {"Val": "old"}, {"Val": "new"})
    assert valued == Plan(adds=[], modifies=["A"], removes=[], replaced=frozenset())
    assert plan_of({"A": record("a.example.test")}, {"A": record("a.example.test")}, params, params) == Plan(
        [], [], [], frozenset()
    ), "nothing changed: an empty change set"


def test_conditions_add_and_remove_their_resources():
    slot = {"Slot": record(SLOT_NAME, Condition="HasSel")}
    off, on = {"HasSel": False}, {"HasSel": True}
    assert plan_of({}, slot, new_conditions=off) == Plan([], [], [], frozenset()), "a false condition lists nothing"
    assert plan_of({}, slot, new_conditions=on).adds == ["Slot"]
    assert plan_of(slot, slot, old_conditions=on, new_conditions=off).removes == ["Slot"]


def test_the_change_list_and_the_order_of_execution():
    update = Plan(adds=["New"], modifies=["Slot", "Value"], removes=["Gone"], replaced=frozenset({"Slot"}))
    old = {"Slot": record("a"), "Value": record("b"), "Gone": ZONE}
    new = {"New": record("c"), "Slot": record("d"), "Value": record("b", '"x"')}
    assert update.changes(old, new) == [
        ("Add", "New", "AWS::Route53::RecordSet", None),
        ("Modify", "Slot", "AWS::Route53::RecordSet", "True"),
        ("Modify", "Value", "AWS::Route53::RecordSet", "False"),
        ("Remove", "Gone", "AWS::Route53::HostedZone", None),
    ]
    # Creations and updates first; removed and replaced resources only in cleanup, after all of them.
    assert steps(update) == [("create", "New"), ("replace", "Slot"), ("update", "Value")]
    assert cleanup(update) == [("delete", "Gone"), ("delete-replaced", "Slot")]
    assert [resource_status(kind, "COMPLETE") for kind, _ in steps(update)] == [
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_COMPLETE",
    ]
    assert resource_status("create", "FAILED") == "CREATE_FAILED"


@pytest.mark.parametrize("retain_except_on_create", [False, True])
def test_a_rollback_deletes_what_was_added_newest_first_and_keeps_retained_ones_unless_asked(retain_except_on_create):
    new = {"Kept": {**ZONE, "DeletionPolicy": "Retain"}, "One": record("x"), "Two": record("y")}
    done = [("create", "Kept"), ("create", "One"), ("replace", "Slot"), ("update", "Value")]
    undo = rollback(["Kept", "One"], new, done, retain_except_on_create)
    assert undo.delete == (["One", "Kept"] if retain_except_on_create else ["One"])
    assert undo.keep == ([] if retain_except_on_create else ["Kept"])
    assert undo.delete_replacements == ["Slot"], "the new physical resource of a replacement goes"
    assert undo.restore == ["Value"], "an update in place is updated back"


def test_the_stack_rolls_back_as_cloudformation_names_it():
    assert rollback_statuses(True, "CREATE_FAILED", "Two", rollback_failed=False) == (
        "ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to create: [Two]. ",
        "ROLLBACK_COMPLETE",
    )
    assert rollback_statuses(False, "UPDATE_FAILED", "B", rollback_failed=True) == (
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to update: [B]. ",
        "UPDATE_ROLLBACK_FAILED",
    )
    assert rollback_statuses(False, "CREATE_FAILED", "Active", rollback_failed=False)[1:] == (
        "The following resource(s) failed to create: [Active]. ",
        "UPDATE_ROLLBACK_COMPLETE",
    )


def test_creations_run_layer_by_layer_as_cloudformations_parallel_creation_allows():
    from tools.rehearsal.moto_compat.change_sets import creation_order

    resources = {
        "Custom": {"Type": "Custom::X", "Properties": {"ServiceToken": {"Fn::GetAtt": ["Function", "Arn"]}}},
        "Function": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Fn::GetAtt": "Role.Arn"}}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
        "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
        "Later": {"Type": "AWS::SNS::Topic", "DependsOn": ["Secret"]},
    }
    order = creation_order(list(resources), resources)
    assert order == ["Role", "Secret", "Function", "Later", "Custom"], "the secret exists before the custom resource"
