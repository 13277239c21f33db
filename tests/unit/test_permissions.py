"""The documented policies (templates/permissions.py), evaluated by the rehearsal world's evaluator.

What each policy allows and refuses, both ways, on the requests the tool and its
function make; and the PlatformRoot template carries exactly the documented role.
"""

from __future__ import annotations

import pytest

from templates import permissions
from templates.platform_root import platform_root_template
from tools.rehearsal.iam_conditions import change_context
from tools.rehearsal.iam_policy import ALLOW, IMPLICIT_DENY, Principal, Request, evaluate

ZONE = "Z0PARENT"
ZONE_ARN = f"arn:aws:route53:::hostedzone/{ZONE}"
INFRA_ACCOUNT = "111122223333"
ROLE = "arn:aws:iam::444455556666:role/ArdaMailsNsDelegation"


def as_dict(document):
    return permissions.as_dict(document)


def session(role_arn: str) -> Principal:
    account, name = role_arn.split(":")[4], role_arn.split("/")[-1]
    return Principal(f"arn:aws:sts::{account}:assumed-role/{name}/s", account, role_arn=role_arn)


@pytest.mark.parametrize(
    ("caller", "verdict"),
    [
        (f"arn:aws:iam::{INFRA_ACCOUNT}:role/Alpha002-dev-Email-NsDelegationFunctionRole-1A2B3C", ALLOW),
        (f"arn:aws:iam::{INFRA_ACCOUNT}:role/Alpha002-prod-Email-NsDelegationFunctionRole-X", ALLOW),
        (f"arn:aws:iam::{INFRA_ACCOUNT}:role/Admin", IMPLICIT_DENY),  # same account, another role
        (f"arn:aws:iam::{INFRA_ACCOUNT}:role/Alpha002-dev-Email-DnsRecordsRole-1A2B", IMPLICIT_DENY),
        ("arn:aws:iam::999988887777:role/Alpha002-dev-Email-NsDelegationFunctionRole-1", IMPLICIT_DENY),
    ],
)
def test_only_a_partitions_delegation_function_may_assume_the_role(caller, verdict):
    trust = as_dict(permissions.delegation_role_trust([INFRA_ACCOUNT]))
    request = Request("sts:AssumeRole", [ROLE], {"aws:PrincipalArn": [caller]})
    assert evaluate([trust], request, session(caller)) == verdict


def change(action: str, name: str, kind: str) -> Request:
    return Request("route53:ChangeResourceRecordSets", [ZONE_ARN], change_context([(action, name, kind)]))


@pytest.mark.parametrize("recommended", [False, True])
@pytest.mark.parametrize(
    ("request_", "minimum", "recommended_verdict"),
    [
        (change("UPSERT", "dev.ardamails.com.", "NS"), ALLOW, ALLOW),
        (change("DELETE", "dev.ardamails.com.", "NS"), ALLOW, ALLOW),
        (change("CREATE", "dev.ardamails.com.", "NS"), IMPLICIT_DENY, IMPLICIT_DENY),  # CDK: UPSERT and DELETE
        (change("UPSERT", "dev.ardamails.com.", "TXT"), IMPLICIT_DENY, IMPLICIT_DENY),  # NS records only
        (change("UPSERT", "ardamails.com.", "NS"), ALLOW, IMPLICIT_DENY),  # the parent's own apex NS
        (
            Request(
                "route53:ChangeResourceRecordSets",
                ["arn:aws:route53:::hostedzone/ZOTHER"],
                change_context([("UPSERT", "dev.ardamails.com.", "NS")]),
            ),
            IMPLICIT_DENY,
            IMPLICIT_DENY,
        ),  # fmt: skip
        (Request("route53:ListHostedZonesByName", ["*"]), ALLOW, ALLOW),
        (Request("route53:ListResourceRecordSets", [ZONE_ARN]), IMPLICIT_DENY, ALLOW),
        (Request("route53:DeleteHostedZone", [ZONE_ARN]), IMPLICIT_DENY, IMPLICIT_DENY),
    ],
)
def test_the_delegation_roles_minimum_is_cdks_and_the_recommended_adds_reading(
    recommended, request_, minimum, recommended_verdict
):
    policy = as_dict(permissions.delegation_role_policy(ZONE, "ardamails.com", recommended=recommended))
    assert evaluate([policy], request_) == (recommended_verdict if recommended else minimum)


ARGS = (INFRA_ACCOUNT, "us-east-1", "Alpha002")
STACK = "arn:aws:cloudformation:us-east-1:111122223333:stack/Alpha002-dev-Email/0c3f"
SECRET = "arn:aws:secretsmanager:us-east-1:111122223333:secret:Alpha002-dev-Email/"


def test_each_mode_grants_only_what_it_needs():
    actions = {mode: set(permissions.operator_actions(*ARGS, mode)) for mode in permissions.MODES}
    assert actions["plan"] < actions["deploy"] <= actions["rollout"]
    assert actions["verify"] < actions["rollout"]
    assert actions["destroy"] < actions["purge"]
    assert "cloudformation:ExecuteChangeSet" not in actions["plan"] | actions["verify"] | actions["destroy"]
    assert "route53:DeleteHostedZone" not in actions["verify"] | actions["plan"]
    assert not any("*" in a for a in set().union(*actions.values())), "no wildcard actions"


@pytest.mark.parametrize(
    ("request_", "verdict"),
    [
        (Request("cloudformation:ExecuteChangeSet", [STACK]), ALLOW),
        (Request("cloudformation:ExecuteChangeSet", [STACK.replace("Alpha002", "Beta001")]), IMPLICIT_DENY),
        (Request("iam:CreateRole", ["arn:aws:iam::111122223333:role/Alpha002-dev-Email-DnsRecordsRole-1"]), ALLOW),
        (Request("iam:CreateRole", ["arn:aws:iam::111122223333:role/Admin"]), IMPLICIT_DENY),
        (
            Request(
                "iam:PassRole",
                ["arn:aws:iam::111122223333:role/Alpha002-dev-Email-NsDelegationFunctionRole-1"],
                {"iam:PassedToService": ["lambda.amazonaws.com"]},
            ),
            ALLOW,
        ),  # fmt: skip
        (
            Request(
                "iam:PassRole",
                ["arn:aws:iam::111122223333:role/Alpha002-dev-Email-NsDelegationFunctionRole-1"],
                {"iam:PassedToService": ["ec2.amazonaws.com"]},
            ),
            IMPLICIT_DENY,
        ),  # fmt: skip
        (Request("secretsmanager:GetSecretValue", [f"{SECRET}PostmarkAccountToken-AbCdEf"]), ALLOW),
        (Request("secretsmanager:DeleteSecret", [f"{SECRET}WebhookCredential-AbCdEf"]), ALLOW),
        (
            Request(
                "secretsmanager:GetSecretValue", [f"{SECRET.replace('Alpha002', 'Beta001')}PostmarkAccountToken-AbCdEf"]
            ),
            IMPLICIT_DENY,
        ),
        (
            Request("secretsmanager:GetSecretValue", [f"{SECRET}PostmarkAccountToken-AbCdEfG"]),
            IMPLICIT_DENY,
        ),  # not Secrets Manager's suffix
        (Request("secretsmanager:GetSecretValue", [f"{SECRET}Other-AbCdEf"]), IMPLICIT_DENY),
        (
            Request(
                "secretsmanager:GetSecretValue",
                ["arn:aws:secretsmanager:us-east-1:111122223333:secret:x-1"],
                {"aws:ResourceTag/arda:infrastructure": ["Alpha002"]},
            ),
            IMPLICIT_DENY,
        ),  # fmt: skip
        (
            Request(
                "iam:SimulatePrincipalPolicy",
                ["arn:aws:iam::111122223333:role/Other"],
                {"aws:PrincipalArn": ["arn:aws:iam::111122223333:role/Operator"]},
            ),
            IMPLICIT_DENY,
        ),  # fmt: skip
    ],
)
def test_the_operator_policy_is_scoped_to_this_infrastructures_partitions(request_, verdict):
    policy = as_dict(permissions.operator_policy(*ARGS))
    # ${aws:PrincipalArn} is the caller's own role (the world substitutes it the same way).
    policy = eval_variables(policy, "arn:aws:iam::111122223333:role/Operator")
    assert evaluate([policy], request_) == verdict


def eval_variables(policy: dict, principal_arn: str) -> dict:
    import json

    return json.loads(json.dumps(policy).replace("${aws:PrincipalArn}", principal_arn))


def test_the_platform_root_template_carries_the_documented_role():
    template = platform_root_template("ArdaMailsNsDelegation", "ardamails.com", [INFRA_ACCOUNT]).to_dict()
    role = template["Resources"]["NsDelegationRole"]["Properties"]
    assert role["RoleName"] == "ArdaMailsNsDelegation"
    assert role["AssumeRolePolicyDocument"] == as_dict(permissions.delegation_role_trust([INFRA_ACCOUNT]))
    (policy,) = role["Policies"]
    documented = as_dict(permissions.delegation_role_policy("${ParentHostedZoneId}", "ardamails.com"))
    rendered = policy["PolicyDocument"]
    for statement in rendered["Statement"]:
        statement["Resource"] = [r["Fn::Sub"] if isinstance(r, dict) else r for r in statement["Resource"]]
    assert rendered == documented
