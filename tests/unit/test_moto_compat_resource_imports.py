"""Patch 20's logic without moto: an import's refusals in CloudFormation's order, its lookups, its events.

The cases are the ones tests/e2e/test_moto_compat.py plays against the server.
"""

from __future__ import annotations

import pytest

from tools.rehearsal.moto_compat.resource_imports import (
    Import,
    entry_refusal,
    execution,
    failed_reason,
    identifier_properties,
    lookup_failure,
    not_updatable,
    parse,
    stack_changes,
    stack_refusal,
    target,
    template_refusal,
)

ZONE_TYPE, SECRET_TYPE = "AWS::Route53::HostedZone", "AWS::SecretsManager::Secret"
ZONE = {"Type": ZONE_TYPE, "DeletionPolicy": "Retain", "Properties": {"Name": "kept.test"}}
SECRET = {"Type": SECRET_TYPE, "DeletionPolicy": "Retain", "Properties": {"Name": "kept/Webhook"}}
OTHER = {"Type": SECRET_TYPE, "Properties": {"Name": "other"}}
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kept/Webhook-Ab12Cd"


def zone(logical_id: str = "Zone", **identifier: str) -> Import:
    return Import(logical_id, ZONE_TYPE, tuple((identifier or {"Id": "Z1"}).items()))


def secret(logical_id: str = "Secret") -> Import:
    return Import(logical_id, SECRET_TYPE, (("Id", ARN),))


def test_resources_to_import_are_read_from_the_query_in_order():
    query = {
        "ResourcesToImport.member.2.ResourceType": [ZONE_TYPE],
        "ResourcesToImport.member.2.LogicalResourceId": ["Zone"],
        "ResourcesToImport.member.2.ResourceIdentifier.entry.1.key": ["Id"],
        "ResourcesToImport.member.2.ResourceIdentifier.entry.1.value": ["Z1"],
        "ResourcesToImport.member.1.ResourceType": [SECRET_TYPE],
        "ResourcesToImport.member.1.LogicalResourceId": ["Secret"],
        "ResourcesToImport.member.1.ResourceIdentifier.entry.1.key": ["Id"],
        "ResourcesToImport.member.1.ResourceIdentifier.entry.1.value": [ARN],
        "ChangeSetType": ["IMPORT"],
    }
    assert parse(query) == [secret(), zone()]
    assert parse({"ChangeSetType": ["IMPORT"]}) == []
    assert zone().value == "Z1"


def test_the_identifier_is_the_resource_schemas_primary_identifier():
    assert identifier_properties(ZONE_TYPE) == ("Id",)
    assert identifier_properties(SECRET_TYPE) == ("Id",)
    assert identifier_properties("Custom::NsDelegation") is None
    assert identifier_properties("AWS::CloudFormation::CustomResource") is None
    assert identifier_properties("AWS::No::Such") is None


@pytest.mark.parametrize(
    ("statuses", "where"),
    [
        ([], "new"),
        (["REVIEW_IN_PROGRESS"], "join"),
        (["CREATE_COMPLETE"], "existing"),
        (["IMPORT_COMPLETE"], "existing"),
        (["IMPORT_ROLLBACK_COMPLETE"], "existing"),
        (["UPDATE_ROLLBACK_COMPLETE"], "existing"),
        (["ROLLBACK_COMPLETE"], "refuse"),
        (["UPDATE_IN_PROGRESS"], "refuse"),
        (["UPDATE_ROLLBACK_FAILED"], "refuse"),
    ],
)
def test_an_import_goes_to_a_new_stack_the_one_under_review_or_a_stable_one(statuses, where):
    assert target(statuses) == where


def test_a_stack_that_cannot_be_updated_is_named_as_cloudformation_does():
    assert (
        not_updatable("arn:s", "ROLLBACK_COMPLETE")
        == "Stack:arn:s is in ROLLBACK_COMPLETE state and can not be updated."
    )


def identifiers(resource_type: str):
    return {ZONE_TYPE: ("Id",), SECRET_TYPE: ("Id",)}.get(resource_type)


@pytest.mark.parametrize(
    ("imports", "message"),
    [
        ([], "Must Provide at least one resource to import"),
        (
            [Import("Zone", ZONE_TYPE, ())],
            "1 validation error detected: Value null at 'resourcesToImport.1.member.resourceIdentifier' failed to "
            "satisfy constraint: Member must not be null",
        ),
        ([zone(), zone()], "Every resource to import must have unique LogicalResourceId"),
        (
            [zone("Gone")],
            "The logical resource ids [Gone] provided in ResourceToImport do not exist in the template.",
        ),
        (
            [Import("Zone", "Custom::Thing", (("Id", "x"),))],
            "The following resource types are not supported for resource import: Custom::Thing",
        ),
        (
            [zone(HostedZoneId="Z1")],
            "Invalid resource identifier for resource type AWS::Route53::HostedZone. Expected [Id]",
        ),
        (
            [Import("Secret", ZONE_TYPE, (("Id", "Z1"),))],
            "Resource type of [Secret] passed in ResourceToImport does not match with resource type defined in the "
            "template. Resource type in ResourceToImport: AWS::Route53::HostedZone; Resource type in Template: "
            "AWS::SecretsManager::Secret.",
        ),
        ([zone(), secret()], None),
    ],
)
def test_the_entries_are_checked_first(imports, message):
    assert entry_refusal(imports, {"Zone": ZONE, "Secret": SECRET}, identifiers) == message


def test_a_wrong_identifier_is_named_before_a_type_that_differs():
    # A secret's identifier under the zone's logical ID, typed as a secret: its keys are right, its type not.
    wrong = Import("Zone", SECRET_TYPE, (("Name", "x"),))
    assert entry_refusal([wrong], {"Zone": ZONE}, identifiers) == (
        "Invalid resource identifier for resource type AWS::SecretsManager::Secret. Expected [Id]"
    )


MODIFIED = (
    "You have modified resources [Other] in your template that are not being imported. Update, create or delete "
    "operations cannot be executed during import operations."
)


@pytest.mark.parametrize(
    ("imports", "resources", "changed", "message"),
    [
        ([zone()], {"Other": OTHER, "Zone": ZONE}, [], None),
        ([secret("Other")], {"Other": OTHER}, [], "The template should contain at least one new resource to import."),
        (
            [zone(), secret("Other")],
            {"Other": OTHER, "Zone": ZONE},
            [],
            "Resources [Other] passed in ResourceToImport are already in a stack and cannot be imported.",
        ),
        (
            [zone()],
            {"Other": OTHER, "Zone": {"Type": ZONE_TYPE}},
            ["Other"],
            "The following resources to import [Zone] must have DeletionPolicy attribute specified in the template.",
        ),
        (
            [zone()],
            {"Other": OTHER, "Zone": ZONE, "Secret": SECRET},
            ["Other"],
            "Resources [Secret] is missing from ResourceToImport list",
        ),
        ([zone()], {"Other": OTHER, "Zone": ZONE}, ["Other"], MODIFIED),
    ],
)
def test_the_template_may_add_the_listed_resources_and_nothing_else(imports, resources, changed, message):
    assert template_refusal(imports, resources, ["Other"], changed) == message


def test_any_deletion_policy_will_do_and_a_new_stack_holds_nothing():
    deleted = {**ZONE, "DeletionPolicy": "Delete"}
    assert template_refusal([zone()], {"Zone": deleted}, [], []) is None
    assert template_refusal([zone()], {"Zone": ZONE, "Other": OTHER}, [], []) == (
        "Resources [Other] is missing from ResourceToImport list"
    )


def test_the_stacks_outputs_tags_and_role_may_not_change():
    outputs = {"A": {"Value": "x"}}
    assert stack_changes((outputs, outputs), ({"k": "v"}, None), ("arn:role", None)) == []
    assert stack_changes((outputs, outputs), ({"k": "v"}, {"k": "v"}), ("arn:role", "arn:role")) == []
    assert stack_changes(({}, outputs), ({}, {"k": "v"}), (None, "arn:role")) == ["Outputs", "RoleArn", "Tags"]
    assert stack_changes((outputs, {}), ({}, None), (None, None)) == ["Outputs"]
    assert stack_refusal([]) is None
    assert (
        stack_refusal(["Tags", "RoleArn"])
        == "As part of the import operation, you cannot modify or add [RoleArn, Tags]"
    )


def test_a_lookup_finds_the_resource_before_it_asks_which_stack_holds_it():
    assert lookup_failure(zone(), False, "arn:stack") == (
        "Resource of type 'AWS::Route53::HostedZone' with identifier 'Z1' was not found."
    )
    assert lookup_failure(zone(), True, "arn:stack") == "Z1 already exists in stack arn:stack"
    assert lookup_failure(zone(), True, None) is None


def test_an_import_records_each_resource_then_the_stack():
    events, final = execution([secret(), zone()], None)
    assert final == "IMPORT_COMPLETE"
    assert [(e[0], e[2]) for e in events] == [
        ("", "IMPORT_IN_PROGRESS"),
        ("Secret", "IMPORT_IN_PROGRESS"),
        ("Secret", "IMPORT_COMPLETE"),
        ("Zone", "IMPORT_IN_PROGRESS"),
        ("Zone", "IMPORT_COMPLETE"),
        ("", "IMPORT_COMPLETE"),
    ]
    assert events[0][3] == "User Initiated" and events[2][4] == ARN


def test_a_failed_import_rolls_back_what_it_imported():
    events, final = execution([secret(), zone()], ("Zone", "gone"))
    assert final == "IMPORT_ROLLBACK_COMPLETE"
    assert [(e[0], e[2], e[3]) for e in events] == [
        ("", "IMPORT_IN_PROGRESS", "User Initiated"),
        ("Secret", "IMPORT_IN_PROGRESS", None),
        ("Secret", "IMPORT_COMPLETE", None),
        ("Zone", "IMPORT_IN_PROGRESS", None),
        ("Zone", "IMPORT_FAILED", "gone"),
        ("", "IMPORT_ROLLBACK_IN_PROGRESS", failed_reason("Zone")),
        ("Secret", "IMPORT_ROLLBACK_COMPLETE", None),
        ("", "IMPORT_ROLLBACK_COMPLETE", None),
    ]
    assert failed_reason("Zone") == "The following resource(s) failed to import: [Zone]. "
    first, _ = execution([zone(), secret()], ("Zone", "refused"))
    assert [e[2] for e in first][-2:] == ["IMPORT_ROLLBACK_IN_PROGRESS", "IMPORT_ROLLBACK_COMPLETE"]
