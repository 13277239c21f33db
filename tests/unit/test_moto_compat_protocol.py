"""The wire as the patches read it, without moto: a request's action, query lists, and patch 14's IAM answers."""

from __future__ import annotations

import io
import json
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest

from tools.rehearsal.moto_compat.protocol import (
    access_denied,
    action_of,
    is_policy_variable,
    members,
    service_of,
    simulation_answer,
    simulation_request,
    without_policy_variables,
)

SIGNED = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/{}/aws4_request, SignedHeaders=host"


def test_the_action_of_a_json_request_is_its_target():
    assert action_of({"HTTP_X_AMZ_TARGET": "secretsmanager.GetSecretValue"}) == "GetSecretValue"


def test_the_action_of_a_query_request_is_read_and_its_body_put_back():
    body = urlencode({"Action": "DescribeChangeSet", "ChangeSetName": "cs"}).encode()
    environ = {"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    assert action_of(environ) == "DescribeChangeSet"
    assert environ["wsgi.input"].read() == body, "the server still reads the whole body"
    assert action_of({"QUERY_STRING": "Action=ListStacks", "wsgi.input": io.BytesIO()}) == "ListStacks"
    assert action_of({"PATH_INFO": "/2013-04-01/hostedzone", "wsgi.input": io.BytesIO()}) == "", "REST: no action"


def test_only_the_action_is_decoded_and_the_body_is_read_once_per_request():
    template = "Resources:\n  Action=Fake: {Type: 'AWS::X&Action=Also'}\n"  # a value that spells a parameter
    body = urlencode({"TemplateBody": template, "Action": "Create ChangeSet", "StackName": "s"}).encode()
    environ = {"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    assert action_of(environ) == "Create ChangeSet", "the real parameter, +-decoded; an encoded one is no match"
    environ["wsgi.input"] = io.BytesIO(b"Action=Other")  # a second patch asking: the answer kept, nothing re-read
    assert action_of(environ) == "Create ChangeSet" and environ["wsgi.input"].read() == b"Action=Other"
    assert action_of({"CONTENT_LENGTH": "6", "wsgi.input": io.BytesIO(b"Name=x"), "QUERY_STRING": "Action=A"}) == ""


def test_a_query_list_comes_in_member_order_and_a_field_picks_a_structures_member():
    query = {
        "ActionNames.member.2": ["route53:GetChange"],
        "ActionNames.member.10": ["iam:GetRole"],
        "ActionNames.member.1": ["route53:ListHostedZones"],
        "ContextEntries.member.1.ContextKeyName": ["aws:RequestedRegion"],
        "Other.member.1": ["x"],
    }
    assert members(query, "ActionNames") == ["route53:ListHostedZones", "route53:GetChange", "iam:GetRole"]
    assert members(query, "ContextEntries", field="ContextKeyName") == ["aws:RequestedRegion"]
    assert members(query, "ContextEntries") == [], "a structure is not a value"


def test_the_service_is_read_from_the_signature():
    assert service_of(SIGNED.format("route53")) == "route53"
    assert service_of("") == ""


@pytest.mark.parametrize("service", ["secretsmanager", "lambda", "logs"])
def test_json_services_refuse_with_an_access_denied_exception(service):
    status, body = access_denied(service, "not authorized")
    assert (status, json.loads(body)) == (400, {"__type": "AccessDeniedException", "Message": "not authorized"})


ROUTE53 = "{https://route53.amazonaws.com/doc/2013-04-01/}"


@pytest.mark.parametrize(("service", "namespace"), [("route53", ROUTE53), ("cloudformation", "")])
def test_xml_services_refuse_with_access_denied_the_message_escaped(service, namespace):
    status, body = access_denied(service, "not authorized on <arn> & more")
    assert status == 403
    error = ElementTree.fromstring(body).find(f"{namespace}Error")
    assert error.find(f"{namespace}Code").text == "AccessDenied"
    assert error.find(f"{namespace}Message").text == "not authorized on <arn> & more"


def test_a_simulation_request_and_its_answer():
    query = {
        "PolicySourceArn": ["arn:aws:iam::123456789012:role/deployer"],
        "ActionNames.member.1": ["route53:ChangeResourceRecordSets"],
        "ContextEntries.member.1.ContextKeyName": ["route53:ChangeResourceRecordSetsActions"],
        "ContextEntries.member.1.ContextKeyValues.member.1": ["UPSERT"],
        "ContextEntries.member.1.ContextKeyValues.member.2": ["DELETE"],
    }
    actions, resources, context = simulation_request(query)
    assert actions == ["route53:ChangeResourceRecordSets"]
    assert resources == ["*"], "no ResourceArns: every resource"
    assert context == {"route53:ChangeResourceRecordSetsActions": ["UPSERT", "DELETE"]}
    assert simulation_answer([("route53:ChangeResourceRecordSets", "allowed")], resources) == {
        "EvaluationResults": [
            {"EvalActionName": "route53:ChangeResourceRecordSets", "EvalResourceName": "*", "EvalDecision": "allowed"}
        ],
        "IsTruncated": False,
    }


def test_a_policy_variable_is_a_valid_resource_with_no_arn_to_parse():
    assert is_policy_variable("${aws:PrincipalArn}")
    assert not is_policy_variable("arn:aws:iam::123456789012:role/${aws:username}")
    assert without_policy_variables("${aws:PrincipalArn}") == []
    assert without_policy_variables(["${aws:PrincipalArn}", "arn:aws:iam::1:role/x"]) == ["arn:aws:iam::1:role/x"]
