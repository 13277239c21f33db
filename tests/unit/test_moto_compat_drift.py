"""Patch 18's logic without moto: drift of a record set and of a role, and the detection's answer, from dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tools.rehearsal.moto_compat.drift import (
    detection,
    filtered,
    properties_drift,
    record_drift,
    resource_drift,
    role_drift,
    role_update,
    unchecked_drift,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)
RECORD = {"Name": "dev.example.test", "Type": "TXT", "TTL": "300", "ResourceRecords": ['"b"', '"a"']}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:*", "Resource": "*"}]}
ROLE = {"AssumeRolePolicyDocument": TRUST, "Policies": [{"PolicyName": "dns", "PolicyDocument": POLICY}]}


def test_a_record_set_is_in_sync_whatever_its_values_order_and_ttls_type():
    live = {"ResourceRecords": [{"Value": '"a"'}, '"b"'], "TTL": 300}
    assert record_drift(RECORD, live) == ("IN_SYNC", [])


def test_a_record_sets_changed_values_and_ttl_are_its_drift_and_a_missing_one_is_deleted():
    status, differences = record_drift(RECORD, {"ResourceRecords": ['"a"', '"c"'], "TTL": 60})
    assert status == "MODIFIED"
    assert differences == [
        ("/ResourceRecords", json.dumps(['"a"', '"b"']), json.dumps(['"a"', '"c"'])),
        ("/TTL", "300", "60"),
    ]
    assert record_drift(RECORD, None) == ("DELETED", [])


def test_a_role_compares_its_documents_as_data_whether_held_as_text_or_not():
    live = {"AssumeRolePolicyDocument": json.dumps(TRUST), "Policies": {"dns": json.dumps(POLICY, indent=2)}}
    assert role_drift(ROLE, live) == ("IN_SYNC", [])
    assert role_drift(ROLE, None) == ("DELETED", [])


def test_a_roles_changed_trust_and_an_added_inline_policy_are_its_drift():
    wider = {**TRUST, "Statement": [*TRUST["Statement"], {"Effect": "Allow", "Action": "sts:TagSession"}]}
    live = {"AssumeRolePolicyDocument": json.dumps(wider), "Policies": {"dns": POLICY, "extra": POLICY}}
    status, differences = role_drift(ROLE, live)
    assert status == "MODIFIED"
    assert [path for path, _, _ in differences] == ["/AssumeRolePolicyDocument", "/Policies"]
    assert json.loads(differences[0][2]) == wider
    assert sorted(json.loads(differences[1][2])) == ["dns", "extra"]


def test_custom_resources_are_not_checked_and_an_unmodelled_type_is_refused():
    assert unchecked_drift("Custom::NsDelegation") == ("NOT_CHECKED", [])
    with pytest.raises(NotImplementedError, match="AWS::SNS::Topic"):
        unchecked_drift("AWS::SNS::Topic")  # never reported IN_SYNC unchecked


def test_the_other_types_compare_what_the_template_sets():
    function = {"Runtime": "python3.12", "Timeout": 180, "MemorySize": 128, "Handler": "index.handler"}
    live = dict(function, Timeout=3, Description="edited in the console")
    status, differences = properties_drift("AWS::Lambda::Function", function, live)
    assert status == "MODIFIED" and differences == [("/Timeout", "180", "3")], "Description is not in the template"
    zone = {"HostedZoneConfig": {"Comment": "Arda"}}
    assert properties_drift("AWS::Route53::HostedZone", zone, {"HostedZoneConfig": {"Comment": "Arda"}}) == (
        "IN_SYNC",
        [],
    )
    assert properties_drift("AWS::Logs::LogGroup", {"RetentionInDays": 90}, None) == ("DELETED", [])


def entry(logical_id: str, status: str) -> dict:
    return resource_drift("stack-id", logical_id, "phys", "AWS::Route53::RecordSet", status, [], NOW)


def test_an_entry_lists_its_differences_as_describe_stack_resource_drifts_does():
    found = resource_drift("stack-id", "Spf", "phys", "AWS::Route53::RecordSet", "MODIFIED", [("/TTL", "1", "2")], NOW)
    assert found["PropertyDifferences"] == [
        {"PropertyPath": "/TTL", "ExpectedValue": "1", "ActualValue": "2", "DifferenceType": "NOT_EQUAL"}
    ]
    assert (found["LogicalResourceId"], found["StackResourceDriftStatus"], found["Timestamp"]) == (
        "Spf",
        "MODIFIED",
        NOW,
    )


def test_the_detection_is_drifted_in_sync_or_failed_with_partial_results():
    in_sync = detection("stack-id", "d1", [entry("A", "IN_SYNC"), entry("F", "NOT_CHECKED")], [], NOW)
    assert (in_sync["StackDriftStatus"], in_sync["DetectionStatus"], in_sync["DriftedStackResourceCount"]) == (
        "IN_SYNC",
        "DETECTION_COMPLETE",
        0,
    )
    assert "DetectionStatusReason" not in in_sync
    drifted = detection("stack-id", "d2", [entry("A", "MODIFIED"), entry("B", "DELETED")], [], NOW)
    assert (drifted["StackDriftStatus"], drifted["DriftedStackResourceCount"]) == ("DRIFTED", 2)
    failed = detection("stack-id", "d3", [entry("A", "IN_SYNC")], ["Function: Internal Failure"], NOW)
    assert (failed["StackDriftStatus"], failed["DetectionStatus"]) == ("UNKNOWN", "DETECTION_FAILED")
    assert json.loads(failed["DetectionStatusReason"]) == {
        "Summary": "Failed to detect drift on resources [Function]",
        "Failures": [{"Resource": "Function", "FailureReason": "Internal Failure"}],
    }
    partly = detection("stack-id", "d4", [entry("A", "MODIFIED")], ["F: x"], NOW)
    assert (partly["StackDriftStatus"], partly["DetectionStatus"]) == ("DRIFTED", "DETECTION_FAILED")


def test_the_status_filter_keeps_the_named_statuses_or_everything():
    drifts = [entry("A", "IN_SYNC"), entry("B", "MODIFIED"), entry("C", "DELETED")]
    assert [d["LogicalResourceId"] for d in filtered(drifts, {"MODIFIED", "DELETED"})] == ["B", "C"]
    assert filtered(drifts, set()) == drifts


def test_a_role_update_leaves_exactly_the_templates_policies():
    trust, deleted, put = role_update(ROLE, ["dns", "old"])
    assert json.loads(trust) == TRUST
    assert deleted == ["old"]
    assert {name: json.loads(text) for name, text in put.items()} == {"dns": POLICY}
    assert role_update({"Policies": []}, ["dns"]) == (None, ["dns"], {}), "no trust in the update: left as it is"
