"""The delegation handler run for real against a moto server and a local CFN endpoint.

PlatformRoot's parent zone lives in a second moto account, reached only through
the assumed role; CloudFormation's answer is received by an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from templates import ns_delegation_handler as h
from templates import permissions
from tools.rehearsal.aws import PLATFORM_ROOT_ROLE, client, create_parent_zone, staff

pytestmark = pytest.mark.moto


def _delegation_role(parent_zone_id: str) -> None:
    """PlatformRoot's delegation role holding its documented trust and policy: the handler acts under it."""
    iam = client("iam", staff(PLATFORM_ROOT_ROLE.split(":")[4]))
    trust = permissions.as_dict(permissions.delegation_role_trust(["111122223333"]))
    policy = permissions.as_dict(permissions.delegation_role_policy(parent_zone_id, "ardamails.com"))
    name = PLATFORM_ROOT_ROLE.rsplit("/", 1)[-1]
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="documented", PolicyDocument=json.dumps(policy))


def _ns_records(route53, zone_id, name):
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [r for r in records if r["Name"] == name and r["Type"] == "NS"]


@pytest.mark.vcheck("V-PART-003", "V-PART-015")
def test_create_then_delete_against_moto(aws_env, httpserver):
    httpserver.expect_request("/cfn-response", method="PUT").respond_with_data("")
    parent_id, root_creds = create_parent_zone()
    _delegation_role(parent_id)
    root = client("route53", root_creds)
    partition = boto3.client("route53")  # the infrastructure's own account
    zone = partition.create_hosted_zone(Name="dev.ardamails.com", CallerReference=str(uuid.uuid4()))
    name_servers = zone["DelegationSet"]["NameServers"]
    # The parent exists only in PlatformRoot's account: the handler must use the role.
    assert "ardamails.com." not in [z["Name"] for z in partition.list_hosted_zones()["HostedZones"]]

    event = {
        "RequestType": "Create",
        "ResponseURL": httpserver.url_for("/cfn-response"),
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/Alpha002-dev-Email/1",
        "RequestId": "req-create",
        "LogicalResourceId": "NsDelegation",
        "ResourceType": "Custom::NsDelegation",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "AssumeRoleArn": PLATFORM_ROOT_ROLE,
            "ParentZoneName": "ardamails.com",
            "RecordName": "dev.ardamails.com",
            "NameServers": name_servers,
            "TTL": "172800",
        },
    }
    operations = []
    session = boto3.Session()
    session.events.register("before-call.*.*", lambda model, **_: operations.append(model.name))
    h.handler(event, None, session=session)

    ((request, _),) = httpserver.log
    answer = json.loads(request.data)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == "ns-delegation/ardamails.com/dev.ardamails.com"
    assert answer["Data"] == {"ParentZoneId": parent_id, "Result": "upserted"}
    (record,) = _ns_records(root, parent_id, "dev.ardamails.com.")
    assert sorted(r["Value"].rstrip(".") for r in record["ResourceRecords"]) == sorted(
        ns.rstrip(".") for ns in name_servers
    )
    assert record["TTL"] == 172800

    delete = dict(event, RequestType="Delete", RequestId="req-delete", PhysicalResourceId=answer["PhysicalResourceId"])
    h.handler(delete, None, session=session)
    answer = json.loads(httpserver.log[-1][0].data)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["Data"]["Result"] == "deleted"
    assert _ns_records(root, parent_id, "dev.ardamails.com.") == []
    assert operations.count("AssumeRole") == 2
    assert "GetChange" not in operations


def test_missing_parent_zone_is_answered_failed(aws_env, httpserver):
    httpserver.expect_request("/cfn-response", method="PUT").respond_with_data("")
    _delegation_role("Z0NOSUCHZONE")
    event = {
        "RequestType": "Create",
        "ResponseURL": httpserver.url_for("/cfn-response"),
        "StackId": "stack",
        "RequestId": "req",
        "LogicalResourceId": "NsDelegation",
        "ResourceProperties": {
            "AssumeRoleArn": PLATFORM_ROOT_ROLE,
            "ParentZoneName": "ardamails.com",
            "RecordName": "dev.ardamails.com",
            "NameServers": ["ns-1.example.net"],
            "TTL": "60",
        },
    }
    h.handler(event, None, session=boto3.Session())
    answer = json.loads(httpserver.log[0][0].data)
    assert answer["Status"] == "FAILED"
    assert "no public hosted zone named ardamails.com." in answer["Reason"]
