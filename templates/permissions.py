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
are scoped to the account; secrets by their names ``<stack>/<name>`` (``secret_arn_pattern``).

The handlers' actions are AWS's data, not a guess: each resource type's schema (as cfn-lint
ships it) lists what its create, read, update and delete handlers call; what this policy does
not grant is in ``HANDLER_EXCLUSIONS`` with the property that would need it.
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

from templates.partition_email import TOKEN_SECRET_NAME, WEBHOOK_SECRET_NAME

MODES = ("plan", "deploy", "destroy", "purge", "verify", "rollout")
# What each mode's command is, for the documentation and --preflight's rows.
MODE_COMMANDS = {
    "plan": "deploy.py <Infrastructure> <partition> --plan",
    "deploy": "deploy.py <Infrastructure> <partition>",
    "destroy": "deploy.py <Infrastructure> <partition> --destroy",
    "purge": "deploy.py <Infrastructure> <partition> --destroy --purge-retained",
    "verify": "tools/verify_partition_mail.py <Infrastructure> <partition>",
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
PLAN = ("plan", "deploy", "rollout")  # change sets and drift detection (which reads every resource)
DEPLOY = ("deploy", "rollout")  # execute: CloudFormation's create and update handlers
TEARDOWN = ("destroy", "purge")
STACK_READERS = ("plan", "deploy", "destroy", "purge", "rollout")  # the deployed template and the stack's change sets
CLAIMS = ("plan", "deploy", "purge", "rollout")  # what else uses a retained zone: before a purge or an adoption

# Which CloudFormation handlers run with the operator's credentials in each mode (deploy.py passes no
# RoleARN). Drift detection calls each resource's read handler ("Detect drift on an entire CloudFormation
# stack": read permission for each resource that supports drift detection); a create or an update is
# followed by the read handler (the resource handler contract returns the model as read); a deletion is not.
# A teardown runs the delete handlers of what the stack does not retain: the zone and the webhook secret
# (DeletionPolicy Retain) are deleted only by a rolled-back first creation (RetainExceptOnCreate), a deploy.
HANDLER_OPERATIONS = {
    "plan": ("read",),
    "deploy": ("create", "update", "delete", "read"),
    "destroy": ("delete",),
    "purge": ("delete",),
    "verify": (),
    "rollout": ("create", "update", "delete", "read"),
}


def modes_running(*operations: str) -> tuple[str, ...]:
    """The modes in which CloudFormation runs any of these handler operations for the operator."""
    return tuple(m for m in MODES if set(HANDLER_OPERATIONS[m]) & set(operations))


@dataclass(frozen=True)
class Exclusion:
    """Actions a resource type's schema lists for its handlers that this policy does not grant, and why not.

    ``unless`` is the template property (``Code.S3Bucket``: a nested one) whose absence makes the actions
    unnecessary: the handler calls them only to set that property. ``None``: the action is not in the
    Service Authorization Reference, so IAM cannot authorise it at all (nothing to grant).
    """

    resource_type: str
    actions: tuple[str, ...]
    unless: str | None
    why: str


# Every action the resource schemas' handlers list (``handlers.<op>.permissions`` and ``tagging.permissions``,
# as cfn-lint ships the CloudFormation registry's schemas) for a type in the template, that the policy below
# does not grant. tests/unit/test_permissions_schemas.py fails when a schema gains an action nobody accounted
# for, when an exclusion no longer matches the schema, or when the template gains a property one relied on.
SCHEMAS_CHECKED_WITH = "cfn-lint 1.58.0 (resource schemas of 2026-10-20)"
HANDLER_EXCLUSIONS = (
    Exclusion(
        "AWS::Route53::HostedZone",
        ("route53:CreateQueryLoggingConfig", "route53:DeleteQueryLoggingConfig"),
        "QueryLoggingConfig",
        "no DNS query logging",
    ),
    Exclusion(
        "AWS::Route53::HostedZone",
        ("route53:AssociateVPCWithHostedZone", "route53:DisassociateVPCFromHostedZone", "ec2:DescribeVpcs"),
        "VPCs",
        "a public zone: no VPC associations",
    ),
    Exclusion(
        "AWS::Route53::HostedZone", ("route53:UpdateHostedZoneFeatures",), "HostedZoneFeatures", "no zone features"
    ),
    Exclusion(
        "AWS::IAM::Role",
        ("iam:AttachRolePolicy", "iam:DetachRolePolicy"),
        "ManagedPolicyArns",
        "inline policies only (a managed policy attached by hand makes the role's deletion fail: drift)",
    ),
    Exclusion(
        "AWS::IAM::Role",
        ("iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary"),
        "PermissionsBoundary",
        "no permissions boundary on the stack's roles (left to the account's owner)",
    ),
    Exclusion(
        "AWS::Lambda::Function",
        ("lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"),
        "ReservedConcurrentExecutions",
        "no reserved concurrency",
    ),
    Exclusion("AWS::Lambda::Function", ("s3:GetObject", "s3:GetObjectVersion"), "Code.S3Bucket", "code inline"),
    Exclusion(
        "AWS::Lambda::Function",
        ("ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:DescribeNetworkInterfaces"),
        "VpcConfig",
        "the function runs outside any VPC",
    ),
    Exclusion(
        "AWS::Lambda::Function",
        ("elasticfilesystem:DescribeMountTargets", "s3files:ListMountTargets"),
        "FileSystemConfigs",
        "no file system mounted",
    ),
    Exclusion(
        "AWS::Lambda::Function",
        ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"),
        "KmsKeyArn",
        "environment encrypted with Lambda's own key (and no environment at all)",
    ),
    Exclusion(
        "AWS::Lambda::Function",
        (
            "lambda:GetCodeSigningConfig",
            "lambda:PutFunctionCodeSigningConfig",
            "lambda:DeleteFunctionCodeSigningConfig",
        ),
        "CodeSigningConfigArn",
        "no code signing",
    ),
    Exclusion("AWS::Lambda::Function", ("lambda:GetLayerVersion",), "Layers", "no layers"),
    Exclusion(
        "AWS::Lambda::Function",
        ("lambda:PutRuntimeManagementConfig",),
        "RuntimeManagementConfig",
        "the runtime updates as Lambda decides (Auto)",
    ),
    Exclusion(
        "AWS::Lambda::Function", ("lambda:PutFunctionRecursionConfig",), "RecursiveLoop", "recursion detection default"
    ),
    Exclusion(
        "AWS::Lambda::Function",
        ("lambda:PutFunctionScalingConfig",),
        "FunctionScalingConfig",
        "no scaling configuration",
    ),
    Exclusion(
        "AWS::Lambda::Function",
        ("lambda:PassCapacityProvider",),
        "CapacityProviderConfig",
        "runs on Lambda's own capacity",
    ),
    Exclusion("AWS::Lambda::Function", ("lambda:AssociateRuntimeAlias",), None, "not an IAM action (yet)"),
    Exclusion(
        "AWS::Logs::LogGroup",
        (
            "logs:PutDataProtectionPolicy",
            "logs:DeleteDataProtectionPolicy",
            "logs:CreateLogDelivery",
            "firehose:TagDeliveryStream",
        ),
        "DataProtectionPolicy",
        "no data protection policy (nor its audit destinations)",
    ),
    Exclusion("AWS::Logs::LogGroup", ("s3:REST.PUT.OBJECT",), None, "an S3 REST operation's name, not an IAM action"),
    Exclusion(
        "AWS::Logs::LogGroup",
        ("logs:PutResourcePolicy", "logs:DeleteResourcePolicy"),
        "ResourcePolicyDocument",
        "no resource policy on the log group",
    ),
    Exclusion(
        "AWS::Logs::LogGroup",
        ("logs:PutIndexPolicy", "logs:DeleteIndexPolicy"),
        "FieldIndexPolicies",
        "no field index policies",
    ),
    Exclusion(
        "AWS::Logs::LogGroup",
        ("logs:AssociateKmsKey", "logs:DisassociateKmsKey"),
        "KmsKeyId",
        "encrypted with CloudWatch Logs' own key",
    ),
    Exclusion(
        "AWS::Logs::LogGroup",
        ("logs:PutLogGroupDeletionProtection",),
        "DeletionProtectionEnabled",
        "no deletion protection (the group goes with its stack)",
    ),
    Exclusion(
        "AWS::Logs::LogGroup",
        ("logs:PutBearerTokenAuthentication",),
        "BearerTokenAuthenticationEnabled",
        "no bearer-token ingestion",
    ),
    Exclusion(
        "AWS::SecretsManager::Secret",
        ("secretsmanager:ReplicateSecretToRegions", "secretsmanager:RemoveRegionsFromReplication"),
        "ReplicaRegions",
        "the secrets live in the partition's region only",
    ),
)


def _has_property(props: dict, path: str) -> bool:
    value: object = props
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def excluded_actions(resource_type: str, props: dict) -> set[str]:
    """The schema actions ``HANDLER_EXCLUSIONS`` leaves out for one resource with these properties.

    An exclusion applies only while its property is absent: a resource that sets it needs the
    actions, which this policy does not grant (so the handler fails, as it would on AWS).
    """
    return {
        action
        for exclusion in HANDLER_EXCLUSIONS
        if exclusion.resource_type == resource_type
        and (exclusion.unless is None or not _has_property(props, exclusion.unless))
        for action in exclusion.actions
    }


def secret_arn_pattern(region: str, account: str, infrastructure: str, name: str) -> str:
    """The ARN of a partition's secret ``<stack>/<name>``, for every partition of the infrastructure.

    Secrets Manager appends ``-`` and six random characters; ``??????`` matches exactly those, also for a
    secret that does not exist yet (Secrets Manager User Guide, "Limiting access to specific secrets").
    """
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{infrastructure}-*-Email/{name}-??????"


def grants(account: str, region: str, infrastructure: str) -> list[Grant]:
    """Every statement of the operator's policy for one infrastructure's account."""
    stack = f"arn:aws:cloudformation:{region}:{account}:stack/{infrastructure}-*-Email/*"
    named = f"{infrastructure}-*-Email-*"  # CloudFormation-generated physical names of the stack's resources
    role = f"arn:aws:iam::{account}:role/{named}"
    function = f"arn:aws:lambda:{region}:{account}:function:{named}"
    log_group = f"arn:aws:logs:{region}:{account}:log-group:{named}"
    log_groups = (log_group, f"{log_group}:*")
    zones = "arn:aws:route53:::hostedzone/*"
    changes = "arn:aws:route53:::change/*"
    token = secret_arn_pattern(region, account, infrastructure, TOKEN_SECRET_NAME)
    webhook = secret_arn_pattern(region, account, infrastructure, WEBHOOK_SECRET_NAME)
    secrets = (token, webhook)
    return [
        # -- what deploy.py itself asks ----------------------------------------------------------
        Grant(
            "CheckOwnPermissions",
            READ,
            _a("iam:GetRole", "iam:SimulatePrincipalPolicy"),
            ("${aws:PrincipalArn}",),
            why="--preflight finds its own role (with its path) and asks IAM whether it holds each mode's actions",
        ),
        Grant(
            "ReadPartitionStacks",
            READ,
            _a("cloudformation:DescribeStacks"),
            (stack,),
            why="the stack's status, outputs and parameters",
        ),
        Grant(
            "ReadDeployedTemplates",
            STACK_READERS,
            _a("cloudformation:GetTemplate"),
            (stack,),
            why="the deployed template: drift, the plan's comparison, what a teardown retains",
        ),
        Grant(
            "ReadStackResources",
            TEARDOWN,
            _a("cloudformation:DescribeStackResources"),
            (stack,),
            why="which retained resources a teardown leaves (the zone and webhook secret that exist)",
        ),
        Grant(
            "ReadPartitionZones",
            ("plan", "deploy", "purge", "verify", "rollout"),
            _a("route53:GetHostedZone", "route53:ListResourceRecordSets"),
            (zones,),
            why="the partition zone's records (drift, verify, an adoption's record count, purge)",
        ),
        Grant(
            "FindExistingZone",
            ("plan", "deploy", "purge", "rollout"),
            _a("route53:ListHostedZonesByName"),
            ("*",),
            why="a first creation adopts the retained zone of the mail domain or refuses another; a purge finds it "
            "(no resource type)",
        ),
        Grant(
            "ReadZoneTags",
            ("plan", "deploy", "purge", "rollout"),
            _a("route53:ListTagsForResource"),
            (zones,),
            why="whose a zone is (the arda:* tags): an adoption, a purge, CloudFormation's zone handler",
        ),
        Grant(
            "PlanChangeSets",
            PLAN,
            _a(
                "cloudformation:CreateChangeSet",
                "cloudformation:DescribeChangeSet",
                "cloudformation:DeleteChangeSet",
                "cloudformation:ListChangeSets",
                "cloudformation:DeleteStack",
            ),
            (stack,),
            why="the change set shown for review; --plan deletes it, and the empty stack a CREATE made "
            "(DeleteStack cannot touch a deployed stack: its termination protection is on)",
        ),
        Grant(
            "DetectDrift",
            PLAN,
            _a(
                "cloudformation:DetectStackDrift",
                "cloudformation:DetectStackResourceDrift",
                "cloudformation:DescribeStackResourceDrifts",
            ),
            (stack,),
            why="CloudFormation's drift detection (each resource's read handler runs with these credentials too)",
        ),
        Grant(
            "DriftDetectionStatus",
            PLAN,
            _a("cloudformation:DescribeStackDriftDetectionStatus"),
            ("*",),
            why="DescribeStackDriftDetectionStatus has no resource type",
        ),
        Grant(
            "ExecuteAndProtect",
            DEPLOY,
            _a(
                "cloudformation:ExecuteChangeSet",
                "cloudformation:SetStackPolicy",
                "cloudformation:GetStackPolicy",
                "cloudformation:UpdateTerminationProtection",
            ),
            (stack,),
            why="execute; the stack policy and termination protection",
        ),
        Grant(
            "FollowStacks",
            ("deploy", "destroy", "purge", "rollout"),
            _a("cloudformation:DescribeStackEvents"),
            (stack,),
            why="follow a stack's events while CloudFormation works",
        ),
        Grant(
            "CheckImports",
            TEARDOWN,
            _a("cloudformation:ListImports"),
            ("*",),
            why="a stack whose exports others import cannot be deleted: refuse first (no resource type)",
        ),
        Grant(
            "TearDown",
            TEARDOWN,
            _a("cloudformation:DeleteStack", "cloudformation:UpdateTerminationProtection"),
            (stack,),
            why="lift termination protection, delete the stack (protection goes back on if it fails)",
        ),
        Grant(
            "FindClaimsInEveryRegion",
            CLAIMS,
            _a("ec2:DescribeRegions", "cloudformation:ListExports"),
            ("*",),
            why="a purge deletes, and a creation adopts, a retained zone only while no stack in any enabled region "
            "exports it (no resource type)",
        ),
        Grant(
            "FindPartitionStacksInEveryRegion",
            CLAIMS,
            _a("cloudformation:DescribeStacks"),
            (f"arn:aws:cloudformation:*:{account}:stack/{infrastructure}-*-Email/*",),
            why="a purge deletes, and a creation adopts, a retained zone only while the partition's stack lives in "
            "no other region (a region changed in the config)",
        ),
        Grant(
            "FindSecrets",
            ("plan", "deploy", "purge", "rollout"),
            _a("secretsmanager:ListSecrets"),
            ("*",),
            why="a first creation adopts the retained webhook secret and refuses while another secret holds one of "
            "its secrets' names; a purge finds the retained webhook secret (no resource type; metadata only)",
        ),
        # -- what CloudFormation's resource handlers call with the operator's credentials ------------------
        # Each type's handler permissions from its resource schema, minus HANDLER_EXCLUSIONS; a statement's
        # modes are those whose handler operations (HANDLER_OPERATIONS) list its actions.
        Grant(
            "HostedZoneCreate",
            modes_running("create"),
            _a("route53:CreateHostedZone"),
            ("*",),
            why="AWS::Route53::HostedZone create (no resource type)",
        ),
        Grant(
            "ZoneRead",
            modes_running("read", "delete"),
            _a("route53:GetHostedZone", "route53:ListResourceRecordSets"),
            (zones,),
            why="AWS::Route53::HostedZone and ::RecordSet read, and the record sets' delete handler's look first",
        ),
        Grant(
            "ZoneListAll",
            modes_running("read", "delete"),
            _a("route53:ListHostedZones"),
            ("*",),
            why="AWS::Route53::RecordSet handlers list the account's zones (no resource type)",
        ),
        Grant(
            "ZoneTags",
            modes_running("read"),
            _a("route53:ListTagsForResource", "route53:ListQueryLoggingConfigs"),
            (zones,),
            why="AWS::Route53::HostedZone read (and its delete handler, which only a rolled-back creation runs)",
        ),
        Grant(
            "ZoneWrite",
            modes_running("create", "update"),
            _a("route53:ChangeTagsForResource", "route53:UpdateHostedZoneComment"),
            (zones,),
            why="AWS::Route53::HostedZone create and update: tags and comment",
        ),
        Grant(
            "ZoneDelete",
            (*DEPLOY, "purge"),
            _a("route53:DeleteHostedZone"),
            (zones,),
            why="AWS::Route53::HostedZone delete (a failed first creation); a purge deletes the retained zone",
        ),
        Grant(
            "RecordSetWrite",
            modes_running("create", "update", "delete"),
            _a("route53:ChangeResourceRecordSets"),
            (zones,),
            why="AWS::Route53::RecordSet create, update and delete; a purge empties the retained zone with it",
        ),
        Grant(
            "Route53Changes",
            modes_running("create", "update", "delete"),
            _a("route53:GetChange"),
            (changes,),
            why="handlers wait for Route 53 changes to be INSYNC",
        ),
        Grant(
            "RoleRead",
            modes_running("read", "delete"),
            _a("iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"),
            (role,),
            why="AWS::IAM::Role read, and its delete handler's look first",
        ),
        Grant(
            "RolePolicyRead",
            modes_running("read"),
            _a("iam:GetRolePolicy"),
            (role,),
            why="AWS::IAM::Role read: the inline policies",
        ),
        Grant(
            "RoleWrite",
            modes_running("create", "update"),
            _a(
                "iam:CreateRole",
                "iam:UpdateRole",
                "iam:UpdateRoleDescription",
                "iam:UpdateAssumeRolePolicy",
                "iam:PutRolePolicy",
                "iam:ListRoleTags",
            ),
            (role,),
            why="AWS::IAM::Role create and update: the DNS-records role and the delegation function's role",
        ),
        Grant(
            "RoleTagsAndPolicies",
            modes_running("create", "update", "delete"),
            _a("iam:TagRole", "iam:UntagRole", "iam:DeleteRolePolicy"),
            (role,),
            why="AWS::IAM::Role tags and inline policies (its delete handler lists them too)",
        ),
        Grant(
            "RoleDelete",
            modes_running("delete"),
            _a("iam:DeleteRole"),
            (role,),
            why="AWS::IAM::Role delete",
        ),
        Grant(
            "PassFunctionRole",
            modes_running("create", "update"),
            _a("iam:PassRole"),
            (role,),
            (StringEquals({"iam:PassedToService": LAMBDA_SERVICE}),),
            why="the delegation function runs as its role",
        ),
        Grant(
            "FunctionGet",
            modes_running("read", "delete"),
            _a("lambda:GetFunction"),
            (function,),
            why="AWS::Lambda::Function read, and its delete handler's look first",
        ),
        Grant(
            "FunctionRead",
            modes_running("read"),
            _a(
                "lambda:GetFunctionCodeSigningConfig",
                "lambda:GetFunctionRecursionConfig",
                "lambda:GetRuntimeManagementConfig",
                "lambda:GetFunctionScalingConfig",
            ),
            (function,),
            why="AWS::Lambda::Function read",
        ),
        Grant(
            "FunctionWrite",
            modes_running("create", "update"),
            _a(
                "lambda:CreateFunction",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:PublishVersion",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:ListTags",
            ),
            (function,),
            why="AWS::Lambda::Function create and update: the delegation function",
        ),
        Grant(
            "FunctionDelete",
            modes_running("delete"),
            _a("lambda:DeleteFunction"),
            (function,),
            why="AWS::Lambda::Function delete",
        ),
        Grant(
            "InvokeCustomResource",
            modes_running("create", "update", "delete"),
            _a("lambda:InvokeFunction"),
            (function,),
            why="CloudFormation invokes the custom resource's function with the caller's credentials",
        ),
        Grant(
            "LogGroupDescribe",
            modes_running("read", "delete"),
            _a("logs:DescribeLogGroups"),
            ("*",),
            why="AWS::Logs::LogGroup handlers (no resource type in the Service Authorization Reference: '*' is "
            "the form that holds however CloudWatch Logs scopes DescribeLogGroups)",
        ),
        Grant(
            "LogGroupPolicies",
            modes_running("read"),
            _a("logs:DescribeIndexPolicies", "logs:DescribeResourcePolicies"),
            ("*",),
            why="AWS::Logs::LogGroup read (no resource type)",
        ),
        Grant(
            "LogGroupRead",
            modes_running("read"),
            _a("logs:ListTagsForResource", "logs:GetDataProtectionPolicy"),
            log_groups,
            why="AWS::Logs::LogGroup read: the function's log group",
        ),
        Grant(
            "LogGroupWrite",
            modes_running("create", "update"),
            _a(
                "logs:CreateLogGroup",
                "logs:PutRetentionPolicy",
                "logs:DeleteRetentionPolicy",
                "logs:TagResource",
                "logs:UntagResource",
            ),
            log_groups,
            why="AWS::Logs::LogGroup create and update",
        ),
        Grant(
            "LogGroupDelete",
            modes_running("delete"),
            _a("logs:DeleteLogGroup"),
            log_groups,
            why="AWS::Logs::LogGroup delete",
        ),
        Grant(
            "SecretDescribe",
            modes_running("read", "delete"),
            _a("secretsmanager:DescribeSecret"),
            secrets,
            why="AWS::SecretsManager::Secret read, and its delete handler's look first",
        ),
        Grant(
            "SecretValue",
            modes_running("read"),
            _a("secretsmanager:GetSecretValue"),
            secrets,
            why="AWS::SecretsManager::Secret read (the plan also compares the stored token, in memory)",
        ),
        Grant(
            "SecretWrite",
            modes_running("create", "update"),
            _a(
                "secretsmanager:CreateSecret",
                "secretsmanager:UpdateSecret",
                "secretsmanager:TagResource",
                "secretsmanager:UntagResource",
            ),
            secrets,
            why="AWS::SecretsManager::Secret create (tagged on create) and update (a new Postmark token)",
        ),
        Grant(
            "SecretRandomPassword",
            modes_running("create", "update"),
            _a("secretsmanager:GetRandomPassword"),
            ("*",),
            why="the webhook secret's GenerateSecretString (no resource type)",
        ),
        Grant(
            "SecretDelete",
            modes_running("delete"),
            _a("secretsmanager:DeleteSecret"),
            secrets,
            why="the token secret goes with its stack; a purge schedules the retained webhook secret's deletion",
        ),
    ]


def simulation_requests(
    account: str, region: str, infrastructure: str, stack: str, principal_arn: str
) -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], dict[str, list[str]]]]:
    """(modes, actions, resource ARNs, condition context) to ask IAM's policy simulator about one partition.

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
        requests.append((grant.modes, grant.actions, resources, context))
    return requests


def operator_actions(account: str, region: str, infrastructure: str, mode: str | None = None) -> list[str]:
    """The sorted actions of one mode (or of every mode)."""
    return actions_of(grants(account, region, infrastructure), mode)


def actions_of(granted: list[Grant], mode: str | None = None) -> list[str]:
    """The sorted actions of the grants of one mode (or of every mode) among ``granted``."""
    return sorted({a for g in granted if mode is None or mode in g.modes for a in g.actions})


def operator_policy(account: str, region: str, infrastructure: str, mode: str | None = None) -> PolicyDocument:
    """The operator's identity policy for one mode, or (``mode=None``) for every mode."""
    return policies_of(grants(account, region, infrastructure), (mode,))[mode]


def policies_of(
    granted: list[Grant], modes: tuple[str | None, ...] = (*MODES, None)
) -> dict[str | None, PolicyDocument]:
    """The policy of each of ``modes`` (``None``: every mode) among ``granted``; the policies share each grant's
    Statement (docs/permissions.md shows every mode's)."""
    for mode in modes:
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got: {mode!r}")
    statements = []
    for grant in granted:
        if not any(mode is None or mode in grant.modes for mode in modes):
            continue
        kwargs = {"Condition": Condition(list(grant.condition))} if grant.condition else {}
        statement = Statement(
            Sid=grant.sid,
            Effect=Allow,
            Action=[Action(*a.split(":", 1)) for a in grant.actions],
            Resource=list(grant.resources),
            **kwargs,
        )
        statements.append((grant.modes, statement))
    return {
        mode: PolicyDocument(
            Version="2012-10-17",
            Statement=[statement for of, statement in statements if mode is None or mode in of],
        )
        for mode in modes
    }


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
    # Without indentation: json's C encoder (awacs' default of 4 spaces runs the pure-Python one, about 3x slower).
    return json.loads(document.to_json(indent=None))
