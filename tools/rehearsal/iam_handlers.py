"""What CloudFormation's resource handlers ask IAM for, read from AWS's data (never written down by hand).

Never imported by the product. deploy.py passes no service role, so CloudFormation's
handlers act with the caller's credentials ("AWS CloudFormation service role": without one,
CloudFormation uses the caller's credentials). For one resource and one handler operation
this module answers which calls the handler makes, on which resource and with which
condition context:

- **Which actions**: the type's resource schema (``aws_data``): the operation's
  ``handlers.<op>.permissions``; create and update are followed by the read handler (the
  resource handler contract: a create or update returns the model as read) and carry the
  type's ``tagging.permissions``; a deleted resource is not read again. Minus what
  ``templates.permissions.HANDLER_EXCLUSIONS`` leaves out for a resource that does not set
  the property an exclusion names. A custom resource is an invocation of its function
  ("Custom resources": CloudFormation calls ``lambda:Invoke`` on the ServiceToken).
- **On what**: the action's resource types in the Service Authorization Reference
  (``aws_data.action_resource_types``); an action with none is authorised on ``*``.
- **With what context**: ``iam:PassedToService`` for a role passed to Lambda, Route 53's
  ``ChangeResourceRecordSets*`` keys for a record's change, and the secret's tags
  (``aws:RequestTag`` when it is created, ``aws:ResourceTag`` afterwards).
"""

from __future__ import annotations

from templates import permissions
from tools.rehearsal import aws_data
from tools.rehearsal.iam_conditions import change_context

CUSTOM_RESOURCE = "Custom::"
CHANGES = "arn:aws:route53:::change/*"
# Secrets Manager appends "-" and six random characters to a secret's name in its ARN.
SECRET_SUFFIX = "-Ab12Cd"


def _kind(resource_type: str) -> str:
    custom = resource_type.startswith(CUSTOM_RESOURCE) or resource_type == "AWS::CloudFormation::CustomResource"
    return CUSTOM_RESOURCE if custom else resource_type


def handler_actions(resource_type: str, operation: str, props: dict) -> list[str]:
    """The actions the type's ``operation`` handler may call for a resource with ``props``, in schema order."""
    if _kind(resource_type) == CUSTOM_RESOURCE:  # no read: CloudFormation never asks a custom resource
        return ["lambda:InvokeFunction"] if operation in ("create", "update", "delete") else []
    actions = list(aws_data.handler_permissions(resource_type, operation))
    if operation in ("create", "update"):
        actions += aws_data.handler_permissions(resource_type, "read")
        actions += aws_data.tagging_permissions(resource_type)
    excluded = permissions.excluded_actions(resource_type, props)
    return [a for a in dict.fromkeys(actions) if a not in excluded]


def _tags(props: dict) -> dict[str, list[str]]:
    tags = props.get("Tags") or []
    if isinstance(tags, dict):
        return {k: [str(v)] for k, v in tags.items()}
    return {t["Key"]: [str(t["Value"])] for t in tags if isinstance(t, dict) and "Key" in t}


def _arn_of(kind: str, resource_type: str, operation: str, props: dict, physical: str, account: str, region: str):
    """The ARN of the handled resource (or the one it refers to) for one SAR resource type, or None."""
    if kind == "hostedzone":
        if resource_type == "AWS::Route53::RecordSet":
            return f"arn:aws:route53:::hostedzone/{str(props.get('HostedZoneId', '*')).split('/')[-1]}"
        zone = physical.split("/")[-1] if physical and operation != "create" else "*"
        return f"arn:aws:route53:::hostedzone/{zone}"
    if kind == "change":
        return CHANGES
    if kind == "role":
        if resource_type == "AWS::IAM::Role":
            return f"arn:aws:iam::{account}:role{props.get('Path', '/')}{physical}"
        return str(props.get("Role", "")) or None
    if kind == "function":
        return f"arn:aws:lambda:{region}:{account}:function:{physical}"
    if kind == "log-group":
        return f"arn:aws:logs:{region}:{account}:log-group:{physical}:*"
    if kind == "secret":
        if physical.startswith("arn:"):
            return physical
        name = props.get("Name") or physical or "GeneratedByCloudFormation"
        return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}{SECRET_SUFFIX}"
    return None


def _context(action: str, resource_type: str, operation: str, props: dict) -> dict[str, list[str]]:
    if action == "iam:PassRole":
        return {"iam:PassedToService": ["lambda.amazonaws.com"]}
    if action == "route53:ChangeResourceRecordSets" and resource_type == "AWS::Route53::RecordSet":
        verb = {"create": "CREATE", "update": "UPSERT", "delete": "DELETE"}[operation]
        return change_context([(verb, str(props.get("Name", "")), str(props.get("Type", "")))])
    if resource_type == "AWS::SecretsManager::Secret":
        tags = _tags(props)
        if operation == "create":
            return {**{f"aws:RequestTag/{k}": v for k, v in tags.items()}, "aws:TagKeys": sorted(tags)}
        return {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    return {}


def handler_requests(
    resource_type: str, operation: str, props: dict, physical: str, account: str, region: str
) -> list[tuple[str, list[str], dict]]:
    """(action, resources, context) of each call the handler makes; resources ``[]``: no model (refused)."""
    if _kind(resource_type) == CUSTOM_RESOURCE:
        return [(a, [str(props.get("ServiceToken", ""))], {}) for a in handler_actions(resource_type, operation, props)]
    try:
        actions = handler_actions(resource_type, operation, props)
    except aws_data.UnknownType:
        return [(f"cloudformation-handler:{resource_type}", [], {})]  # unmodelled type: refused
    requests = []
    for action in actions:
        kinds = aws_data.action_resource_types(action)
        if kinds is None:
            resources: list[str] = []  # not an IAM action: nothing can allow it
        elif not kinds:
            resources = ["*"]
        else:
            found = (_arn_of(k.lower(), resource_type, operation, props, physical, account, region) for k in kinds)
            resources = [arn for arn in [next((arn for arn in found if arn), None)] if arn]
        requests.append((action, resources, _context(action, resource_type, operation, props)))
    return requests
