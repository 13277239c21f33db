"""The IAM policies this tool needs, as awacs code: one source for docs, the PlatformRoot template and --preflight.

Two identities act on AWS:

- **The operator** (a person's role, or the deploy workflow's OIDC role) in the
  infrastructure account. deploy.py passes no ``RoleARN``, so CloudFormation acts
  with the operator's own credentials: the operator needs CloudFormation's
  actions *and* every action CloudFormation's resource handlers call to create,
  update and delete the stack's resources (each type's "handlers" permissions in
  the CloudFormation resource type schema), plus ``lambda:InvokeFunction`` for the
  custom resource ("Custom resources": CloudFormation invokes the function with
  the caller's credentials when no service role is given).
- **The PlatformRoot delegation role**, assumed by each partition's
  ``NsDelegationFunction``: it writes the partition's NS record into the parent zone.

``operator_policy(infra, mode)`` gives the policy of one mode (``MODES``);
``operator_policy(infra)`` the union, which is what the rehearsal world's operator
holds and what ``docs/permissions.md`` documents. Resources are scoped by the
names CloudFormation generates for this project's stacks (``<stack>-<LogicalId>-<suffix>``):
stacks ``<Infrastructure>-*-Email``, roles/functions/log groups ``<Infrastructure>-*-Email-*``;
Route 53 zones cannot be tag-scoped (Route 53 has no ``aws:ResourceTag``), so they
are scoped to the account; secrets by their ``arda:infrastructure`` tag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    Condition,
    ForAllValuesStringEquals,
    ForAllValuesStringLike,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)

MODES = ("plan", "deploy", "destroy", "purge", "verify", "rollout")
# What each mode's command is, for the documentation and --preflight's rows.
MODE_COMMANDS = {
    "plan": "deploy.py <Infrastructure> <partition> --plan",
    "deploy": "deploy.py <Infrastructure> <partition>",
    "destroy": "deploy.py <Infrastructure> <partition> --destroy",
    "purge": "deploy.py <Infrastructure> <partition> --destroy --purge-retained",
    "verify": "tools/verify.py <Infrastructure> <partition>",
    "rollout": "tools/rollout.py (deploy and verify of each partition)",
}
INFRA_TAG = "arda:infrastructure"
LAMBDA_SERVICE = "lambda.amazonaws.com"


@dataclass(frozen=True)
class Grant:
    """One statement of the operator's policy: actions on resources, for some modes."""

    sid: str
    modes: tuple[str, ...]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: tuple = ()  # awacs condition elements
    why: str = ""


def _a(*names: str) -> tuple[str, ...]:
    return names


READ = ("plan", "deploy", "destroy", "purge", "verify", "rollout")
PLAN = ("plan", "deploy", "rollout")
DEPLOY = ("deploy", "rollout")
DELETE = ("deploy", "destroy", "purge", "rollout")  # deploy: a failed create rolls back, replacements clean up
PURGE = ("purge",)


def grants(account: str, region: str, infrastructure: str) -> list[Grant]:
    """Every statement of the operator's policy for one infrastructure's account."""
    stack = f"arn:aws:cloudformation:{region}:{account}:stack/{infrastructure}-*-Email/*"
    named = f"{infrastructure}-*-Email-*"  # CloudFormation-generated physical names of the stack's resources
    role = f"arn:aws:iam::{account}:role/{named}"
    function = f"arn:aws:lambda:{region}:{account}:function:{named}"
    log_group = f"arn:aws:logs:{region}:{account}:log-group:{named}"
    zones = "arn:aws:route53:::hostedzone/*"
    secrets = f"arn:aws:secretsmanager:{region}:{account}:secret:*"
    tagged = (StringEquals({f"aws:ResourceTag/{INFRA_TAG}": infrastructure}),)
    return [
        Grant(
            "CheckOwnPermissions",
            READ,
            _a("iam:SimulatePrincipalPolicy"),
            ("${aws:PrincipalArn}",),
            why="--preflight asks IAM whether the caller holds each mode's actions (its own role only)",
        ),
        Grant(
            "ReadPartitionStacks",
            READ,
            _a("cloudformation:DescribeStacks", "cloudformation:DescribeStackResources"),
            (stack,),
            why="the stack's status, outputs, parameters and resources",
        ),
        Grant(
            "ReadPartitionZones",
            ("plan", "deploy", "purge", "verify", "rollout"),
            _a("route53:GetHostedZone", "route53:ListResourceRecordSets"),
            (zones,),
            why="the partition zone's records (drift, verify, purge)",
        ),
        Grant(
            "FindExistingZone",
            PLAN,
            _a("route53:ListHostedZonesByName"),
            ("*",),
            why="a first creation refuses when a zone of the mail domain exists already (no resource type)",
        ),
        Grant(
            "ReadZoneTags",
            ("plan", "deploy", "purge", "rollout"),
            _a("route53:ListTagsForResource"),
            (zones,),
            why="whose a zone is (the arda:* tags): a second zone, a purge, CloudFormation's zone handler",
        ),
        Grant(
            "PlanChangeSets",
            PLAN,
            _a(
                "cloudformation:CreateChangeSet",
                "cloudformation:DescribeChangeSet",
                "cloudformation:DeleteChangeSet",
                "cloudformation:ListChangeSets",
                "cloudformation:DescribeStackEvents",
                "cloudformation:GetTemplate",
                "cloudformation:DetectStackDrift",
                "cloudformation:DescribeStackResourceDrifts",
            ),
            (stack,),
            why="the change set shown for review, CloudFormation's drift detection",
        ),
        Grant(
            "PlanDriftStatus",
            PLAN,
            _a("cloudformation:DescribeStackDriftDetectionStatus"),
            ("*",),
            why="DescribeStackDriftDetectionStatus has no resource type",
        ),
        Grant(
            "CompareStoredToken",
            PLAN,
            _a("secretsmanager:GetSecretValue"),
            (secrets,),
            tagged,
            why="is the stored Postmark token the one from 1Password (no needless update)",
        ),
        Grant(
            "ExecuteAndProtect",
            DEPLOY,
            _a(
                "cloudformation:ExecuteChangeSet",
                "cloudformation:SetStackPolicy",
                "cloudformation:GetStackPolicy",
                "cloudformation:UpdateTerminationProtection",
                "cloudformation:DeleteStack",
            ),
            (stack,),
            why="execute; stack policy and termination protection; remove a failed first creation",
        ),
        Grant(
            "CheckImports",
            ("destroy", "purge"),
            _a("cloudformation:ListImports"),
            ("*",),
            why="a stack whose exports others import cannot be deleted: refuse first (no resource type)",
        ),
        Grant(
            "TearDown",
            ("destroy", "purge"),
            _a(
                "cloudformation:DeleteStack",
                "cloudformation:UpdateTerminationProtection",
                "cloudformation:DescribeStackEvents",
            ),
            (stack,),
            why="lift termination protection, delete the stack, follow it",
        ),
        # -- what CloudFormation's handlers call with the operator's credentials --
        Grant(
            "HandlersHostedZone",
            DEPLOY,
            _a(
                "route53:CreateHostedZone",
                "route53:ListQueryLoggingConfigs",
            ),
            ("*",),
            why="AWS::Route53::HostedZone create/read (no resource type)",
        ),
        Grant(
            "HandlersZoneAndRecords",
            DEPLOY,
            _a(
                "route53:ChangeTagsForResource",
                "route53:ChangeResourceRecordSets",
                "route53:UpdateHostedZoneComment",
            ),
            (zones,),
            why="zone tags and the partition's record sets",
        ),
        Grant(
            "HandlersDeleteZoneAndRecords",
            DELETE,
            _a("route53:DeleteHostedZone", "route53:ChangeResourceRecordSets"),
            (zones,),
            why="a rolled-back creation, a removed record, a purged zone",
        ),
        Grant(
            "HandlersRoute53Changes",
            DELETE,
            _a("route53:GetChange"),
            ("arn:aws:route53:::change/*",),
            why="handlers wait for Route 53 changes to be INSYNC",
        ),
        Grant(
            "HandlersRoles",
            DEPLOY,
            _a(
                "iam:CreateRole",
                "iam:GetRole",
                "iam:UpdateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:PutRolePolicy",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
            ),
            (role,),
            why="AWS::IAM::Role: the DNS-records role and the delegation function's role",
        ),
        Grant(
            "HandlersDeleteRoles",
            DELETE,
            _a("iam:DeleteRole", "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"),
            (role,),
            why="AWS::IAM::Role delete",
        ),
        Grant(
            "PassFunctionRole",
            DEPLOY,
            _a("iam:PassRole"),
            (role,),
            (StringEquals({"iam:PassedToService": LAMBDA_SERVICE}),),
            why="the delegation function runs as its role",
        ),
        Grant(
            "HandlersFunction",
            DEPLOY,
            _a(
                "lambda:CreateFunction",
                "lambda:GetFunction",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:ListTags",
                "lambda:GetFunctionCodeSigningConfig",
            ),
            (function,),
            why="AWS::Lambda::Function: the delegation function",
        ),
        Grant(
            "InvokeAndDeleteFunction",
            DELETE,
            _a("lambda:InvokeFunction", "lambda:DeleteFunction"),
            (function,),
            why="CloudFormation invokes the custom resource with the caller's credentials",
        ),
        Grant(
            "HandlersLogGroup",
            DEPLOY,
            _a(
                "logs:CreateLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagResource",
                "logs:UntagResource",
                "logs:ListTagsForResource",
            ),
            (log_group, f"{log_group}:*"),
            why="AWS::Logs::LogGroup: the function's log group",
        ),
        Grant(
            "HandlersDescribeLogGroups",
            DEPLOY,
            _a("logs:DescribeLogGroups"),
            (f"arn:aws:logs:{region}:{account}:log-group:*",),
            why="AWS::Logs::LogGroup read (DescribeLogGroups lists the account's groups)",
        ),
        Grant(
            "HandlersDeleteLogGroup",
            DELETE,
            _a("logs:DeleteLogGroup"),
            (log_group, f"{log_group}:*"),
            why="AWS::Logs::LogGroup delete",
        ),
        Grant(
            "HandlersCreateSecret",
            DEPLOY,
            _a("secretsmanager:CreateSecret"),
            (secrets,),
            (StringEquals({f"aws:RequestTag/{INFRA_TAG}": infrastructure}),),
            why="AWS::SecretsManager::Secret create, only with this infrastructure's tag",
        ),
        Grant(
            "HandlersSecrets",
            DEPLOY,
            _a(
                "secretsmanager:DescribeSecret",
                "secretsmanager:UpdateSecret",
                "secretsmanager:TagResource",
                "secretsmanager:UntagResource",
            ),
            (secrets,),
            tagged,
            why="AWS::SecretsManager::Secret tags and update (a new Postmark token)",
        ),
        Grant(
            "HandlersRandomPassword",
            DEPLOY,
            _a("secretsmanager:GetRandomPassword"),
            ("*",),
            why="the webhook secret's GenerateSecretString (no resource type)",
        ),
        Grant(
            "DeleteSecrets",
            DELETE,
            _a("secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret"),
            (secrets,),
            tagged,
            why="the token secret goes with its stack; purge removes the retained webhook secret",
        ),
        # -- purge: the retained zone and secret, found by name and tags --
        Grant(
            "PurgeFindRetained",
            PURGE,
            _a("route53:ListHostedZonesByName", "secretsmanager:ListSecrets"),
            ("*",),
            why="find the retained zone by name and the webhook secret by tags (no resource type)",
        ),
    ]


def simulation_requests(
    account: str, region: str, infrastructure: str, stack: str, principal_arn: str
) -> list[tuple[tuple[str, ...], tuple[str, ...], dict[str, list[str]]]]:
    """(actions, resource ARNs, condition context) to ask IAM's policy simulator about one partition.

    The grants' resources made concrete for ``stack`` (generated suffixes stay ``*``)
    and their conditions as the deploy meets them (its own tagged secrets, a role
    passed to Lambda): what the deploy of that partition will actually ask for.
    """
    requests = []
    for grant in grants(account, region, infrastructure):
        resources = tuple(
            principal_arn if r == "${aws:PrincipalArn}" else r.replace(f"{infrastructure}-*-Email", stack)
            for r in grant.resources
        )
        context: dict[str, list[str]] = {}
        if grant.condition:
            for keys in json.loads(
                json.dumps(Condition(list(grant.condition)).JSONrepr(), default=lambda o: o.JSONrepr())
            ).values():
                for key, value in keys.items():
                    context[key] = [value] if isinstance(value, str) else list(value)
        requests.append((grant.actions, resources, context))
    return requests


def operator_actions(account: str, region: str, infrastructure: str, mode: str | None = None) -> list[str]:
    """The sorted actions of one mode (or of every mode)."""
    return sorted(
        {a for g in grants(account, region, infrastructure) if mode is None or mode in g.modes for a in g.actions}
    )


def operator_policy(account: str, region: str, infrastructure: str, mode: str | None = None) -> PolicyDocument:
    """The operator's identity policy for one mode, or (``mode=None``) for every mode."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got: {mode!r}")
    statements = []
    for grant in grants(account, region, infrastructure):
        if mode is not None and mode not in grant.modes:
            continue
        kwargs = {"Condition": Condition(list(grant.condition))} if grant.condition else {}
        statements.append(
            Statement(
                Sid=grant.sid,
                Effect=Allow,
                Action=[Action(*a.split(":", 1)) for a in grant.actions],
                Resource=list(grant.resources),
                **kwargs,
            )
        )
    return PolicyDocument(Version="2012-10-17", Statement=statements)


# -- PlatformRoot: the delegation role -------------------------------------------------------

DELEGATION_FUNCTION_ROLE = "*-Email-NsDelegationFunctionRole-*"


def delegation_role_policy(parent_zone_id: str, parent_zone_name: str, recommended: bool = True) -> PolicyDocument:
    """The delegation role's permissions.

    The minimum is exactly what AWS CDK grants its ``crossAccountZoneDelegationRole``:
    NS-only ``ChangeResourceRecordSets`` with UPSERT/DELETE on the parent zone, and
    ``ListHostedZonesByName`` on ``*``. The recommended policy adds
    ``ListResourceRecordSets`` on the parent zone (the handler then refuses to take
    over an NS record someone else wrote) and keeps the role below the parent's apex.
    """
    zone = f"arn:aws:route53:::hostedzone/{parent_zone_id}"
    conditions = [
        ForAllValuesStringEquals(
            {
                "route53:ChangeResourceRecordSetsRecordTypes": ["NS"],
                "route53:ChangeResourceRecordSetsActions": ["UPSERT", "DELETE"],
            }
        )
    ]
    if recommended:
        conditions.append(
            ForAllValuesStringLike({"route53:ChangeResourceRecordSetsNormalizedRecordNames": [f"*.{parent_zone_name}"]})
        )
    statements = [
        Statement(
            Sid="DelegateNsRecordsOnly",
            Effect=Allow,
            Action=[Action("route53", "ChangeResourceRecordSets")],
            Resource=[zone],
            Condition=Condition(conditions),
        ),
        Statement(
            Sid="FindParentZone",
            Effect=Allow,
            Action=[Action("route53", "ListHostedZonesByName")],
            Resource=["*"],
        ),
    ]
    if recommended:
        statements.append(
            Statement(
                Sid="ReadParentRecords",
                Effect=Allow,
                Action=[Action("route53", "ListResourceRecordSets")],
                Resource=[zone],
            )
        )
    return PolicyDocument(Version="2012-10-17", Statement=statements)


def delegation_role_trust(account_ids: list[str]) -> PolicyDocument:
    """Who may assume the delegation role: the partitions' delegation functions, nothing else.

    The accounts are named (every principal of theirs, subject to their own
    policies), narrowed by ``aws:PrincipalArn`` to roles whose names
    CloudFormation generates for the ``NsDelegationFunctionRole`` of an ``*-Email`` stack.
    """
    accounts = sorted(set(account_ids))
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Sid="PartitionDelegationFunctions",
                Effect=Allow,
                Principal=Principal("AWS", [f"arn:aws:iam::{a}:root" for a in accounts]),
                Action=[Action("sts", "AssumeRole")],
                Condition=Condition(
                    ArnLike(
                        {"aws:PrincipalArn": [f"arn:aws:iam::{a}:role/{DELEGATION_FUNCTION_ROLE}" for a in accounts]}
                    )
                ),
            )
        ],
    )


def as_dict(document: PolicyDocument) -> dict:
    """A policy as plain JSON data (what IAM stores and the world evaluates)."""
    return json.loads(document.to_json())
