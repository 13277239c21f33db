"""The rehearsal world's IAM, request by request, against AWS's documented answers (issue 28).

Each test makes real calls to the world's moto server and cites the IAM User Guide
page (https://docs.aws.amazon.com/IAM/latest/UserGuide/<page>.html) whose rule it
proves; ``tests/unit/test_iam_corpus.py`` proves the decisions themselves.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tools.rehearsal import iam_world
from tools.rehearsal.aws import client, staff

pytestmark = pytest.mark.moto

ACCOUNT, OTHER = "111122223333", "444455556666"
SESSION = "standin"
TRUST_ACCOUNT = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
LIST_ZONES = {"Effect": "Allow", "Action": "route53:ListHostedZones", "Resource": "*"}


def doc(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def role(name: str, trust: dict, policy: dict | None = None, account: str = ACCOUNT, **extra) -> str:
    """A role the account's administrator creates; its ARN."""
    iam = client("iam", staff(account))
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **extra)["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def session(role_arn: str, via: dict | None = None, region: str = "us-east-1", **extra) -> dict:
    """Credentials of a session of ``role_arn``, assumed with the world's own keys or ``via``'s."""
    keys = {} if via is None else {k.lower(): v for k, v in via.items()}
    sts = boto3.client("sts", region_name=region, **keys)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION, **extra)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def denied(call) -> str:
    """The AccessDenied message ``call`` is answered with."""
    with pytest.raises(ClientError) as refused:
        call()
    assert refused.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    return refused.value.response["Error"]["Message"]


def zones(creds: dict):
    return lambda: client("route53", creds).list_hosted_zones()


# -- who asks: staff, deleted roles ------------------------------------------------------------


def test_a_session_of_a_role_iam_no_longer_holds_is_refused_everything(aws_env):
    # "the permissions assigned to temporary security credentials are evaluated each time a request
    # is made" (Controlling permissions for temporary security credentials); inline policies "are
    # deleted when you delete the identity" (Policies and permissions in IAM).
    arn = role("Leaving", doc(TRUST_ACCOUNT), doc(LIST_ZONES))
    creds = session(arn)
    zones(creds)()
    iam = client("iam", staff(ACCOUNT))
    iam.delete_role_policy(RoleName="Leaving", PolicyName="p")
    iam.delete_role(RoleName="Leaving")
    assert "the role no longer exists" in denied(zones(creds))


def test_only_the_world_staff_role_is_staff(aws_env):
    never_held = session(f"arn:aws:iam::{ACCOUNT}:role/Administrator")  # the world's own keys may mint it
    assert "is not authorized to perform: route53:ListHostedZones" in denied(zones(never_held))
    zones(staff(ACCOUNT))()
    message = denied(lambda: role(iam_world.STAFF_ROLE, doc(TRUST_ACCOUNT)))
    assert "IAM may not hold a role of that name" in message


# -- session policies ---------------------------------------------------------------------------


def test_a_session_policy_intersects_with_the_role_policy(aws_env):
    # "The permissions for a session are the intersection of the identity-based policies ... and the
    # session policies ... An explicit deny in any of these policies overrides the allow."
    by_name = {"Effect": "Allow", "Action": "route53:ListHostedZonesByName", "Resource": "*"}
    arn = role("Scoped", doc(TRUST_ACCOUNT), doc(LIST_ZONES, by_name))
    narrowed = session(arn, Policy=json.dumps(doc(LIST_ZONES)))
    zones(narrowed)()
    message = denied(lambda: client("route53", narrowed).list_hosted_zones_by_name())
    assert "because no session policy allows the route53:ListHostedZonesByName action" in message
    denying = session(arn, Policy=json.dumps(doc({**LIST_ZONES, "Effect": "Deny"}, by_name)))
    assert "with an explicit deny in a session policy" in denied(zones(denying))
    broader = session(arn, Policy=json.dumps(doc({"Effect": "Allow", "Action": "*", "Resource": "*"})))
    assert "no identity-based policy allows" in denied(lambda: client("iam", broader).get_role(RoleName="Scoped"))


def test_assume_role_parameters_the_world_would_drop_are_refused(aws_env):
    arn = role("Plain", doc(TRUST_ACCOUNT), doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    caller = session(arn)
    managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert "PolicyArns" in denied(lambda: session(arn, via=caller, PolicyArns=[{"arn": managed}]))
    assert "Tags" in denied(lambda: session(arn, via=caller, Tags=[{"Key": "team", "Value": "mail"}]))


# -- AssumeRole: identity Deny, what a trust grants, the request context ---------------------------

ASSUME_ANY = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}


def test_an_identity_deny_of_assume_role_wins_over_a_trust_naming_the_caller(aws_env):
    caller_arn = role("Caller", doc(TRUST_ACCOUNT), doc(LIST_ZONES))
    target = role("Target", doc({**TRUST_ACCOUNT, "Principal": {"AWS": caller_arn}}))
    caller = session(caller_arn)
    session(target, via=caller)  # same account, the trust names the role: no identity Allow needed
    client("iam", staff(ACCOUNT)).put_role_policy(
        RoleName="Caller",
        PolicyName="deny",
        PolicyDocument=json.dumps(doc({"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": target})),
    )
    assert "with an explicit deny in an identity-based policy" in denied(lambda: session(target, via=caller))


def test_a_trust_naming_the_account_needs_the_identity_policy_too(aws_env):
    caller_arn = role("Caller", doc(TRUST_ACCOUNT), doc(LIST_ZONES))
    target = role("Target", doc(TRUST_ACCOUNT))
    message = denied(lambda: session(target, via=session(caller_arn)))
    assert "because no identity-based policy allows the sts:AssumeRole action" in message
    client("iam", staff(ACCOUNT)).put_role_policy(
        RoleName="Caller", PolicyName="a", PolicyDocument=json.dumps(doc(ASSUME_ANY))
    )
    session(target, via=session(caller_arn))


def test_a_trust_statement_for_another_action_grants_no_assume_role(aws_env):
    caller_arn = role("Caller", doc(TRUST_ACCOUNT), doc(ASSUME_ANY))
    tag_only = {"Effect": "Allow", "Principal": {"AWS": caller_arn}, "Action": "sts:TagSession"}
    target = role("Target", doc(tag_only))
    message = denied(lambda: session(target, via=session(caller_arn)))
    assert "because no role trust policy allows the sts:AssumeRole action" in message


def test_the_trust_policy_sees_the_request_context(aws_env):
    trust = doc(
        {
            **TRUST_ACCOUNT,
            "Condition": {
                "StringEquals": {"AWS:PrincipalTag/TEAM": "mail", "sts:ExternalId": "Example987"},
                "StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*", "sts:RoleSessionName": SESSION},
            },
        }
    )
    target = role("Target", trust)
    tagged = session(role("Tagged", doc(TRUST_ACCOUNT), doc(ASSUME_ANY), Tags=[{"Key": "team", "Value": "mail"}]))
    other = session(role("Other", doc(TRUST_ACCOUNT), doc(ASSUME_ANY), Tags=[{"Key": "team", "Value": "web"}]))
    session(target, via=tagged, ExternalId="Example987")
    assert "no role trust policy allows" in denied(lambda: session(target, via=tagged, ExternalId="wrong"))
    assert "no role trust policy allows" in denied(lambda: session(target, via=tagged))
    assert "no role trust policy allows" in denied(lambda: session(target, via=other, ExternalId="Example987"))


def test_a_trust_may_require_the_requested_region(aws_env):
    target = role("Target", doc({**TRUST_ACCOUNT, "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}))
    caller = session(role("Caller", doc(TRUST_ACCOUNT), doc(ASSUME_ANY)))
    session(target, via=caller, region="eu-west-1")
    assert "no role trust policy allows" in denied(lambda: session(target, via=caller, region="us-east-1"))


def test_across_accounts_both_the_trust_and_the_identity_policy_must_allow(aws_env):
    # "Cross-account policy evaluation logic": allowed only if both evaluations allow.
    caller_arn = role("Caller", doc(TRUST_ACCOUNT), doc(LIST_ZONES))
    target = role("Target", doc({**TRUST_ACCOUNT, "Principal": {"AWS": caller_arn}}), account=OTHER)
    message = denied(lambda: session(target, via=session(caller_arn)))
    assert "because no identity-based policy allows the sts:AssumeRole action" in message
    client("iam", staff(ACCOUNT)).put_role_policy(
        RoleName="Caller", PolicyName="a", PolicyDocument=json.dumps(doc(ASSUME_ANY))
    )
    session(target, via=session(caller_arn))


def test_a_request_on_another_accounts_resource_is_refused_without_a_resource_policy(aws_env):
    reader = {"Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": "*"}
    creds = session(role("Reader", doc(TRUST_ACCOUNT), doc(reader)))
    theirs = f"arn:aws:secretsmanager:us-east-1:{OTHER}:secret:token-AbCdEf"
    message = denied(lambda: client("secretsmanager", creds).describe_secret(SecretId=theirs))
    assert "because no resource-based policy allows" in message


# -- global keys and key names ------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
        {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}},  # Route 53 is called in us-east-1
        {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
        {"ArnLike": {"AWS:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/Denied"}},  # key names ignore case
        {"StringEquals": {"aws:PrincipalTag/Team": "mail"}},  # tagged team=mail
    ],
)
def test_a_deny_on_a_global_key_the_world_fills_fires(aws_env, condition):
    deny = {"Effect": "Deny", "Action": "route53:*", "Resource": "*", "Condition": condition}
    creds = session(role("Denied", doc(TRUST_ACCOUNT), doc(LIST_ZONES, deny), Tags=[{"Key": "team", "Value": "mail"}]))
    assert "with an explicit deny in an identity-based policy" in denied(zones(creds))


@pytest.mark.parametrize(
    "condition",
    [
        {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}},  # AWS fills it (or not): the world cannot know
        {"StringEquals": {"aws:userid": "AROAEXAMPLE:s"}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},  # an operator it does not implement
    ],
)
def test_a_condition_the_world_cannot_decide_is_refused_never_allowed(aws_env, condition):
    deny = {"Effect": "Deny", "Action": "route53:*", "Resource": "*", "Condition": condition}
    creds = session(role("Unknowable", doc(TRUST_ACCOUNT), doc(LIST_ZONES, deny)))
    assert "refused:" in denied(zones(creds))


# -- role paths -----------------------------------------------------------------------------------


def test_a_role_with_a_path_is_assumed_and_named_by_its_full_arn(aws_env):
    # "IAM identifiers": arn:aws:iam::account:role/role-name-with-path; the session ARN
    # arn:aws:sts::account:assumed-role/role-name/role-session-name carries no path.
    sso = role(
        "AWSReservedSSO_Admin_0123",
        doc(TRUST_ACCOUNT),
        doc(ASSUME_ANY),
        Path="/aws-reserved/sso.amazonaws.com/",
    )
    assert sso == f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
    creds = session(sso)
    identity = client("sts", creds).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123/{SESSION}"
    target = role("Target", doc({**TRUST_ACCOUNT, "Principal": {"AWS": sso}}))
    session(target, via=creds)
    pathless = role(
        "Pathless",
        doc({**TRUST_ACCOUNT, "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Admin_0123"}}),
    )
    assert "no role trust policy allows" in denied(lambda: session(pathless, via=creds))
    wrong_arn = f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Admin_0123"
    assert "no such role" in denied(lambda: session(wrong_arn, via=creds))


# -- a change set that is gone is authorised on its stack ----------------------------------------


def test_deleting_a_change_set_twice_is_authorised_on_its_stack(aws_env):
    stack = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/Alpha002-dev-Email/*"
    allow = {"Effect": "Allow", "Action": "cloudformation:*", "Resource": stack}
    arn = role("Deployer", doc(TRUST_ACCOUNT), doc(allow))
    keys = {k.lower(): v for k, v in session(arn).items()}
    cfn = boto3.client("cloudformation", config=Config(retries={"total_max_attempts": 1}), **keys)
    body = json.dumps({"Resources": {"T": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})
    change_set = cfn.create_change_set(
        StackName="Alpha002-dev-Email", ChangeSetName="c1", ChangeSetType="CREATE", TemplateBody=body
    )["Id"]
    cfn.describe_change_set(ChangeSetName=change_set)
    cfn.delete_change_set(ChangeSetName=change_set)
    iam_world.GRANTED.clear()
    with pytest.raises(Exception) as again:  # noqa: PT011 - whatever the service answers, it is not IAM's refusal
        cfn.delete_change_set(ChangeSetName=change_set)
    assert "AccessDenied" not in str(again.value)
    assert (arn, "cloudformation:DeleteChangeSet") in iam_world.GRANTED, "IAM authorised it on the stack"
