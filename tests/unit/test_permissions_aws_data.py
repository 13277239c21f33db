"""The documented policies held to AWS's own data, as cfn-lint ships it (tools/rehearsal/aws_data.py).

- Handler permissions: every action a template resource type's schema lists for its create,
  read, update and delete handlers (and tagging) is granted to the modes that run that handler,
  or excluded in ``templates.permissions.HANDLER_EXCLUSIONS`` with the property whose absence
  makes it unnecessary; no exclusion is stale.
- The Service Authorization Reference: every policy the project renders names real actions,
  resources of the types those actions take, and condition keys they support.
"""

from __future__ import annotations

import copy

import pytest

from templates import permissions
from templates.platform_root import platform_root_template
from tools.rehearsal import aws_data
from tools.rehearsal.iam_handlers import handler_actions

ARGS = ("111122223333", "us-east-1", "Alpha002")
CUSTOM = "Custom::"


@pytest.fixture(scope="module")
def template_resources(dev_template, prod_template) -> list[tuple[str, str, dict]]:
    """(logical ID, type, properties) of every resource of every rendered partition template."""
    found = []
    for template in (dev_template, prod_template):
        for logical_id, resource in template.resources.items():
            found.append((logical_id, resource["Type"], resource.get("Properties", {})))
    return found


@pytest.fixture(scope="module")
def retained(dev_template, prod_template) -> set[str]:
    """Logical IDs a stack's deletion keeps (DeletionPolicy Retain): a teardown never runs their delete handler."""
    return {
        logical_id
        for template in (dev_template, prod_template)
        for logical_id, resource in template.resources.items()
        if resource.get("DeletionPolicy") == "Retain"
    }


@pytest.fixture(scope="module")
def schema_types(template_resources) -> set[str]:
    return {kind for _, kind, _ in template_resources if not kind.startswith(CUSTOM)}


def test_the_checked_data_version_is_the_installed_one():
    assert permissions.SCHEMAS_CHECKED_WITH == aws_data.data_version(), (
        "cfn-lint's data changed: run this module's tests, account for what they name, then update "
        "SCHEMAS_CHECKED_WITH in templates/permissions.py and regenerate docs/permissions.md"
    )


@pytest.mark.parametrize("mode", permissions.MODES)
def test_each_mode_grants_what_its_handlers_call(mode, template_resources, retained):
    granted = set(permissions.operator_actions(*ARGS, mode))
    missing = set()
    for logical_id, kind, props in template_resources:
        for operation in permissions.HANDLER_OPERATIONS[mode]:
            if operation == "delete" and mode in permissions.TEARDOWN and logical_id in retained:
                continue
            for action in handler_actions(kind, operation, props):
                if action not in granted:
                    missing.add(f"{kind} {operation} ({logical_id}) calls {action}")
    assert not missing, f"the {mode} policy lacks:\n" + "\n".join(sorted(missing))


def test_every_schema_action_is_granted_or_excluded_with_a_reason(schema_types):
    granted = set(permissions.operator_actions(*ARGS))
    unaccounted = []
    for kind in sorted(schema_types):
        excluded = {a for e in permissions.HANDLER_EXCLUSIONS if e.resource_type == kind for a in e.actions}
        for action in sorted(aws_data.schema_actions(kind) - set(aws_data.handler_permissions(kind, "list"))):
            if action not in granted and action not in excluded:
                unaccounted.append(f"{kind}: {action}")
    assert not unaccounted, (
        "the resource schemas list actions nobody accounted for: grant them (templates/permissions.py) or "
        "exclude them with the property that needs them (HANDLER_EXCLUSIONS):\n" + "\n".join(unaccounted)
    )


def test_every_exclusion_matches_the_schema_and_the_template(template_resources, schema_types):
    for exclusion in permissions.HANDLER_EXCLUSIONS:
        kind = exclusion.resource_type
        assert kind in schema_types, f"an exclusion for {kind}, which the template does not use"
        stale = set(exclusion.actions) - aws_data.schema_actions(kind)
        assert not stale, f"{kind}: the schema no longer lists {sorted(stale)}: remove the exclusion"
        granted = set(exclusion.actions) & set(permissions.operator_actions(*ARGS))
        assert not granted, f"{kind}: {sorted(granted)} are both granted and excluded"
        if exclusion.unless is None:
            known = [a for a in exclusion.actions if aws_data.action_resource_types(a) is not None]
            assert not known, f"{known} are IAM actions: exclude them by the property that needs them"
            continue
        top = exclusion.unless.split(".", 1)[0]
        assert top in aws_data.resource_schema(kind)["properties"], f"{kind} has no property {top}"
        users = [
            logical_id
            for logical_id, k, props in template_resources
            if k == kind and exclusion.actions[0] not in permissions.excluded_actions(kind, props)
        ]
        assert not users, f"{users} set {exclusion.unless}: its handler needs {exclusion.actions}, not granted"


def test_an_exclusion_stops_applying_when_the_template_sets_its_property(template_resources):
    (function,) = [props for _, kind, props in template_resources if kind == "AWS::Lambda::Function"][:1]
    assert "kms:Decrypt" not in handler_actions("AWS::Lambda::Function", "read", function)
    with_key = dict(function, KmsKeyArn="arn:aws:kms:us-east-1:111122223333:key/1")
    assert "kms:Decrypt" in handler_actions("AWS::Lambda::Function", "read", with_key)
    s3 = dict(function, Code={"S3Bucket": "b", "S3Key": "k"})
    assert "s3:GetObject" in handler_actions("AWS::Lambda::Function", "create", s3)


def test_the_accounting_fails_on_an_action_nobody_accounted_for(monkeypatch, schema_types):
    real = aws_data.handler_permissions

    def with_new_action(kind, operation):
        extra = (
            ("route53:ActivateKeySigningKey",) if (kind, operation) == ("AWS::Route53::HostedZone", "create") else ()
        )
        return real(kind, operation) + extra

    monkeypatch.setattr(aws_data, "handler_permissions", with_new_action)
    with pytest.raises(AssertionError, match="route53:ActivateKeySigningKey"):
        test_every_schema_action_is_granted_or_excluded_with_a_reason(schema_types)


# -- the Service Authorization Reference ---------------------------------------------------------------


def _template_policies(template) -> list[tuple[str, dict]]:
    """Every role's trust and inline policy of a rendered template, intrinsics replaced by sample values."""
    documents = []
    for logical_id, resource in template.resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = resolve(resource["Properties"])
        documents.append((f"{logical_id} trust", props["AssumeRolePolicyDocument"]))
        for policy in props.get("Policies", []):
            documents.append((f"{logical_id} {policy['PolicyName']}", policy["PolicyDocument"]))
    return documents


SAMPLES = {
    "AWS::Partition": "aws",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/Alpha002-dev-Email/0c3f",
    "MailHostedZone": "Z0123456789",
}
ATTRIBUTES = {("NsDelegationLogGroup", "Arn"): "arn:aws:logs:us-east-1:111122223333:log-group:Alpha002-dev-x:*"}


def resolve(value):
    """The intrinsics IAM policies in the template use, with the values CloudFormation would give."""
    if isinstance(value, dict):
        if "Ref" in value:
            return SAMPLES[value["Ref"]]
        if "Fn::GetAtt" in value:
            return ATTRIBUTES[tuple(value["Fn::GetAtt"])]
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(resolve(p) for p in parts)
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def _every_policy(dev_template, prod_template):
    documents = [
        (f"operator {mode}", permissions.as_dict(permissions.operator_policy(*ARGS, mode)))
        for mode in permissions.MODES
    ]
    for recommended in (False, True):
        policy = permissions.delegation_role_policy("Z0PARENT", "ardamails.com", recommended=recommended)
        documents.append((f"delegation role (recommended={recommended})", permissions.as_dict(policy)))
    documents.append(("delegation trust", permissions.as_dict(permissions.delegation_role_trust(["111122223333"]))))
    platform = resolve_sub(platform_root_template("ArdaMailsNsDelegation", "ardamails.com", ["111122223333"]).to_dict())
    for logical_id, resource in platform["Resources"].items():
        for policy in resource["Properties"].get("Policies", []):
            documents.append((f"PlatformRoot {logical_id}", policy["PolicyDocument"]))
    for template in (dev_template, prod_template):
        documents += _template_policies(template)
    return documents


def resolve_sub(value):
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            return value["Fn::Sub"].replace("${ParentHostedZoneId}", "Z0PARENT").replace("${AWS::Partition}", "aws")
        return {k: resolve_sub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_sub(v) for v in value]
    return value


def test_every_policy_the_project_renders_agrees_with_the_service_authorization_reference(dev_template, prod_template):
    documents = _every_policy(dev_template, prod_template)
    assert len(documents) >= 14
    problems = [f"{name}: {p}" for name, document in documents for p in aws_data.policy_problems(document)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("statement", "complaint"),
    [
        ({"Action": "route53:ChangeResourceRecordSet", "Resource": "*"}, "not an action"),
        ({"Action": "route53:CreateHostedZone", "Resource": "arn:aws:route53:::hostedzone/*"}, "must be '*'"),
        ({"Action": "route53:GetHostedZone", "Resource": "*"}, "wider than any"),
        ({"Action": "route53:GetChange", "Resource": "arn:aws:route53:::hostedzone/*"}, "not an ARN of change"),
        ({"Action": "logs:DescribeLogGroups", "Resource": "arn:aws:logs:us-east-1:1:log-group:*"}, "must be '*'"),
        (
            {
                "Action": "iam:PassRole",
                "Resource": "arn:aws:iam::111122223333:role/x",
                "Condition": {"StringEquals": {"route53:ChangeResourceRecordSetsActions": "UPSERT"}},
            },
            "does not support the condition key",
        ),
        (
            {
                "Action": "route53:GetHostedZone",
                "Resource": "arn:aws:route53:::hostedzone/*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "mail"}},
            },
            "does not support the condition key",  # Route 53 has no resource tags in IAM
        ),
    ],
)
def test_the_reference_check_refuses_what_aws_would_not_take(statement, complaint):
    document = {"Version": "2012-10-17", "Statement": [dict(statement, Sid="S", Effect="Allow")]}
    problems = aws_data.policy_problems(document)
    assert problems and complaint in problems[0], problems


def test_the_reference_check_accepts_keys_the_data_names():
    document = {
        "Statement": [
            {
                "Sid": "S",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "arn:aws:secretsmanager:us-east-1:111122223333:secret:a/b-??????",
                "Condition": {
                    "StringEquals": {"aws:ResourceTag/arda:infrastructure": "Alpha002", "aws:PrincipalAccount": "1"}
                },
            }
        ]
    }
    assert aws_data.policy_problems(copy.deepcopy(document)) == []
