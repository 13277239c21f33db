"""The rehearsal world's policy evaluator against the IAM User Guide's own rules and examples.

Each case names the documentation page it comes from ("Policy evaluation logic",
"IAM JSON policy elements: Action / Resource / NotAction / Principal",
"Cross-account policy evaluation logic", STS GetCallerIdentity).
"""

from __future__ import annotations

import pytest

from tools.rehearsal.iam_policy import (
    ALLOW,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    NAMES_ACCOUNT,
    NAMES_ROLE,
    Principal,
    Request,
    evaluate,
    principal_matches,
    resource_grant,
)


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def test_every_request_starts_denied():
    assert evaluate([], Request("s3:GetObject", ["arn:aws:s3:::b/k"])) == IMPLICIT_DENY


def test_an_explicit_deny_wins_over_any_allow_in_any_policy():
    allowing = policy(allow("dynamodb:*"))
    denying = policy(deny("dynamodb:DeleteTable", "arn:aws:dynamodb:*:*:table/Books"))
    books = "arn:aws:dynamodb:us-east-1:1:table/Books"
    assert evaluate([allowing, denying], Request("dynamodb:DeleteTable", [books])) == EXPLICIT_DENY
    assert evaluate([allowing, denying], Request("dynamodb:PutItem", [books])) == ALLOW


@pytest.mark.parametrize(
    ("pattern", "action", "allowed"),
    [
        ("iam:*AccessKey*", "iam:CreateAccessKey", True),  # the Action page's own example
        ("iam:*AccessKey*", "iam:ListAccessKeys", True),
        ("iam:*AccessKey*", "iam:CreateRole", False),
        ("s3:Get*", "S3:getobject", True),  # actions ignore case
        ("s3:?etObject", "s3:GetObject", True),  # ? is one character
        ("s3:?etObject", "s3:GGetObject", False),
    ],
)
def test_actions_take_wildcards_and_ignore_case(pattern, action, allowed):
    verdict = evaluate([policy(allow(pattern))], Request(action, ["*"]))
    assert verdict == (ALLOW if allowed else IMPLICIT_DENY)


def test_action_names_are_case_insensitive():
    assert evaluate([policy(allow("S3:GETOBJECT"))], Request("s3:GetObject", ["*"])) == ALLOW


def test_not_action_allows_everything_but_the_listed_actions():
    # The NotAction page's example: everything in S3 except deleting a bucket.
    doc = policy({"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"})
    assert evaluate([doc], Request("s3:ListBucket", ["arn:aws:s3:::b"])) == ALLOW
    assert evaluate([doc], Request("s3:DeleteBucket", ["arn:aws:s3:::b"])) == IMPLICIT_DENY


def test_resources_take_wildcards_spanning_parts_and_are_case_sensitive():
    doc = policy(allow("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1*"))
    assert evaluate([doc], Request("route53:ChangeResourceRecordSets", ["arn:aws:route53:::hostedzone/Z1ABC"])) == ALLOW
    assert evaluate([doc], Request("route53:ChangeResourceRecordSets", ["arn:aws:route53:::hostedzone/z1abc"])) == (
        IMPLICIT_DENY
    )
    stacks = policy(allow("cloudformation:*", "arn:aws:cloudformation:us-east-1:1:stack/Alpha002-*-Email/*"))
    arn = "arn:aws:cloudformation:us-east-1:1:stack/Alpha002-dev-Email/0c3f"
    assert evaluate([stacks], Request("cloudformation:DescribeStacks", [arn])) == ALLOW
    other = "arn:aws:cloudformation:us-east-1:1:stack/Beta001-dev-Email/0c3f"
    assert evaluate([stacks], Request("cloudformation:DescribeStacks", [other])) == IMPLICIT_DENY


def test_not_resource_matches_every_other_resource():
    doc = policy({"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::keep/*"})
    assert evaluate([doc, policy(allow("*"))], Request("s3:GetObject", ["arn:aws:s3:::keep/k"])) == ALLOW
    assert evaluate([doc, policy(allow("*"))], Request("s3:GetObject", ["arn:aws:s3:::other/k"])) == EXPLICIT_DENY


def test_a_statement_applies_only_when_its_condition_holds():
    doc = policy(allow("secretsmanager:GetSecretValue", Condition={"StringEquals": {"aws:ResourceTag/team": "a"}}))
    assert evaluate([doc], Request("secretsmanager:GetSecretValue", ["*"], {"aws:ResourceTag/team": ["a"]})) == ALLOW
    assert evaluate([doc], Request("secretsmanager:GetSecretValue", ["*"], {"aws:ResourceTag/team": ["b"]})) == (
        IMPLICIT_DENY
    )
    assert evaluate([doc], Request("secretsmanager:GetSecretValue", ["*"], {})) == IMPLICIT_DENY


def test_every_resource_of_a_request_must_be_allowed():
    doc = policy(allow("iam:PassRole", "arn:aws:iam::1:role/a"))
    assert evaluate([doc], Request("iam:PassRole", ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"])) == IMPLICIT_DENY


def test_get_caller_identity_needs_no_permission_and_cannot_be_denied():
    assert evaluate([policy(deny("sts:GetCallerIdentity"))], Request("sts:GetCallerIdentity", ["*"])) == ALLOW


SESSION = Principal(
    "arn:aws:sts::111122223333:assumed-role/Fn/s1", "111122223333", role_arn="arn:aws:iam::111122223333:role/Fn"
)


@pytest.mark.parametrize(
    ("named", "matches"),
    [
        ({"AWS": "arn:aws:iam::111122223333:root"}, True),  # an account: every principal of it
        ({"AWS": "111122223333"}, True),
        ({"AWS": "arn:aws:iam::111122223333:role/Fn"}, True),  # the role: its sessions
        ({"AWS": "arn:aws:sts::111122223333:assumed-role/Fn/s1"}, True),  # the session itself
        ({"AWS": "arn:aws:iam::444455556666:root"}, False),
        ({"Service": "lambda.amazonaws.com"}, False),
        ("*", True),
    ],
)
def test_trust_policy_principals(named, matches):
    assert principal_matches({"Principal": named}, SESSION) is matches


def test_a_trust_statement_applies_without_a_resource_and_keeps_its_condition():
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/*-Email-Fn*"}},
        }
    )
    role = "arn:aws:iam::444455556666:role/Delegation"
    fn = Principal(SESSION.arn, SESSION.account, role_arn="arn:aws:iam::111122223333:role/dev-Email-FnRole")
    context = {"aws:PrincipalArn": [fn.role_arn]}
    assert evaluate([trust], Request("sts:AssumeRole", [role], context), fn) == ALLOW
    other = Principal(SESSION.arn, SESSION.account, role_arn="arn:aws:iam::111122223333:role/Admin")
    assert evaluate([trust], Request("sts:AssumeRole", [role], {"aws:PrincipalArn": [other.role_arn]}), other) == (
        IMPLICIT_DENY
    )
    # An account principal delegates to the account's own policies: the caller's identity
    # policy must allow too; only a trust naming the role or session itself suffices alone.
    assert resource_grant(trust, Request("sts:AssumeRole", [role], context), fn) == NAMES_ACCOUNT
    naming_role = policy({"Effect": "Allow", "Principal": {"AWS": fn.role_arn}, "Action": "sts:AssumeRole"})
    assert resource_grant(naming_role, Request("sts:AssumeRole", [role], context), fn) == NAMES_ROLE


def test_a_service_principal_is_matched_by_service_name():
    lambda_ = Principal("lambda.amazonaws.com", "", service="lambda.amazonaws.com")
    trust = policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    assert evaluate([trust], Request("sts:AssumeRole", ["arn:aws:iam::1:role/r"]), lambda_) == ALLOW
    assert evaluate([trust], Request("sts:AssumeRole", ["arn:aws:iam::1:role/r"]), SESSION) == IMPLICIT_DENY
