"""AWS's published data as cfn-lint ships it: CloudFormation's resource schemas, the Service Authorization Reference.

Never imported by the product. The rehearsal world and the permission tests read AWS's
facts from here instead of writing them down from memory:

- **Resource schemas** (``cfnlint/data/schemas/resources/*.json``, the CloudFormation
  registry's schemas for one region, refreshed with every cfn-lint release): each
  type's ``handlers.<create|read|update|delete|list>.permissions`` (the actions its
  handler may call with the caller's credentials) and ``tagging.permissions``.
- **The Service Authorization Reference** (``cfnlint/data/AdditionalSpecs/Policies.json``):
  per service, each action's resource types, and each resource type's ARN formats and
  condition keys. It carries no action-level condition keys (those are cited where used).
"""

from __future__ import annotations

import functools
import json
import re
from importlib import metadata
from pathlib import Path

import cfnlint

DATA = Path(cfnlint.__file__).resolve().parent / "data"
SCHEMA_REGION = "us-east-1"
HANDLER_OPERATIONS = ("create", "read", "update", "delete")


class UnknownType(LookupError):
    """A resource type the schemas of this cfn-lint do not know."""


def data_version() -> str:
    """Which data this is: the cfn-lint version and the date of its schemas."""
    schema_date = json.loads((DATA / "schemas" / "version.json").read_text(encoding="utf-8")).get("schema_date", "")
    return f"cfn-lint {metadata.version('cfn-lint')} (resource schemas of {schema_date[:10]})"


@functools.cache
def resource_schema(resource_type: str) -> dict:
    """The registry schema of ``resource_type`` (as published for us-east-1)."""
    index = json.loads((DATA / "schemas" / "providers" / f"{SCHEMA_REGION}.json").read_text(encoding="utf-8"))
    if resource_type not in index:
        raise UnknownType(f"no resource schema for {resource_type} in {data_version()}")
    return json.loads((DATA / "schemas" / "resources" / f"{index[resource_type]}.json").read_text(encoding="utf-8"))


def handler_permissions(resource_type: str, operation: str) -> tuple[str, ...]:
    """The actions the type's ``operation`` handler lists (empty when the type has no such handler)."""
    handlers = resource_schema(resource_type).get("handlers") or {}
    return tuple((handlers.get(operation) or {}).get("permissions") or ())


def tagging_permissions(resource_type: str) -> tuple[str, ...]:
    """The actions the type's schema lists for tagging it."""
    return tuple((resource_schema(resource_type).get("tagging") or {}).get("permissions") or ())


def schema_actions(resource_type: str) -> set[str]:
    """Every action the type's schema lists, for any handler or for tagging."""
    actions = set(tagging_permissions(resource_type))
    for operation in (*HANDLER_OPERATIONS, "list"):
        actions.update(handler_permissions(resource_type, operation))
    return actions


@functools.cache
def _reference() -> dict:
    return json.loads((DATA / "AdditionalSpecs" / "Policies.json").read_text(encoding="utf-8"))


def action_resource_types(action: str) -> tuple[str, ...] | None:
    """The resource types ``service:Action`` is authorised on (``()``: none, "*"), or None for an unknown action."""
    service, _, name = action.partition(":")
    found = _reference().get(service.lower(), {}).get("Actions", {}).get(name.lower())
    if found is None:
        return None
    return tuple(found.get("Resources") or ())


def _resource_type(service: str, name: str) -> dict:
    resources = _reference().get(service.lower(), {}).get("Resources", {})
    return next((v for k, v in resources.items() if k.lower() == name.lower()), {})


def arn_patterns(service: str, resource_type: str, partition: str = "aws") -> tuple[re.Pattern, ...]:
    """The ARN formats of one resource type, as regular expressions (``${Region}`` etc. stand for one part)."""
    patterns = []
    for arn_format in _resource_type(service, resource_type).get("ARNFormats", []):
        regex = arn_format.replace("${Partition}", re.escape(partition))
        regex = re.sub(r"\$\{Region\}", "[a-z0-9-]*", regex)
        regex = re.sub(r"\$\{Account\}", "[0-9]{12}", regex)
        regex = re.sub(r"\$\{[A-Za-z]+\}", "[^:/]+", regex)
        patterns.append(re.compile(regex))
    return tuple(patterns)


def resource_condition_keys(service: str, resource_type: str) -> tuple[str, ...]:
    """The condition keys the Service Authorization Reference lists for one resource type."""
    return tuple(_resource_type(service, resource_type).get("ConditionKeys", []))


def resource_type_of(action: str, arn: str) -> str | None:
    """Which of the action's resource types ``arn`` is (None: none of them)."""
    service = action.split(":", 1)[0]
    for resource_type in action_resource_types(action) or ():
        if any(p.fullmatch(arn) for p in arn_patterns(service, resource_type, arn.split(":")[1] or "aws")):
            return resource_type
    return None


# -- a policy checked against the Service Authorization Reference ---------------------------------

# Condition keys every request may carry ("AWS global condition context keys", IAM User Guide:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html). The tag keys
# (aws:RequestTag/*, aws:ResourceTag/*, aws:TagKeys) are listed there too, but only the services and
# resource types that name them support them: they are checked like service keys.
GLOBAL_CONDITION_KEYS = frozenset(
    {
        "aws:calledvia",
        "aws:calledviafirst",
        "aws:calledvialast",
        "aws:currenttime",
        "aws:epochtime",
        "aws:multifactorauthage",
        "aws:multifactorauthpresent",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalisawsservice",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalservicename",
        "aws:principaltype",
        "aws:requestedregion",
        "aws:resourceaccount",
        "aws:resourceorgid",
        "aws:securetransport",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceidentity",
        "aws:sourceip",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:userid",
        "aws:username",
        "aws:viaawsservice",
    }
)
GLOBAL_CONDITION_PREFIXES = ("aws:principaltag/",)
# Action-level condition keys (the Service Authorization Reference's "Condition keys" column of the Actions
# table), which cfn-lint's Policies.json does not carry: only those this project's policies use, each cited.
ACTION_CONDITION_KEYS = {
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonroute53.html
    "route53:changeresourcerecordsets": frozenset(
        {
            "route53:changeresourcerecordsetsactions",
            "route53:changeresourcerecordsetsnormalizedrecordnames",
            "route53:changeresourcerecordsetsrecordtypes",
        }
    ),
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
    "iam:passrole": frozenset({"iam:passedtoservice", "iam:associatedresourcearn"}),
}
# Where a service's own guide documents a resource form the Service Authorization Reference does not:
# (action, ARN regex, citation). None today; an entry here is a cited, deliberate exception.
RESOURCE_EXCEPTIONS: tuple[tuple[str, str, str], ...] = ()


def _as_list(value) -> list:
    return [value] if isinstance(value, (str, dict)) else list(value or [])


def _sample(resource: str, principal: str) -> str:
    """A concrete ARN a wildcard resource stands for (``*``/``?`` filled in), to test against ARN formats."""
    return resource.replace("${aws:PrincipalArn}", principal).replace("*", "x").replace("?", "x")


def _key_supported(action: str, key: str) -> bool:
    key = key.lower()
    if key in GLOBAL_CONDITION_KEYS or key.startswith(GLOBAL_CONDITION_PREFIXES):
        return True
    if key in ACTION_CONDITION_KEYS.get(action.lower(), ()):
        return True
    service = action.split(":", 1)[0]
    for resource_type in action_resource_types(action) or ():
        for supported in resource_condition_keys(service, resource_type):
            pattern = re.escape(supported.lower()).replace(re.escape("${tagkey}"), "[^/]+")
            if re.fullmatch(pattern, key):
                return True
    return False


def policy_problems(document: dict, principal: str = "arn:aws:iam::111122223333:role/Operator") -> list[str]:
    """What the Service Authorization Reference says is wrong with an identity policy (empty: nothing).

    Every action exists; every Resource is ``*`` for an action without resource types, or an ARN of
    a type the action takes (``RESOURCE_EXCEPTIONS`` aside); every condition key is global, or one
    the action or its resource types support. A trust policy (no Resource) has its actions and
    keys checked.
    """
    problems = []
    for statement in _as_list(document.get("Statement")):
        sid = statement.get("Sid", "?")
        actions = _as_list(statement.get("Action"))
        for action in actions:
            kinds = action_resource_types(action)
            if kinds is None:
                problems.append(f"{sid}: {action} is not an action of the Service Authorization Reference")
                continue
            for resource in _as_list(statement.get("Resource")):
                problem = _resource_problem(action, kinds, resource, principal)
                if problem:
                    problems.append(f"{sid}: {problem}")
            for operator_keys in (statement.get("Condition") or {}).values():
                for key in operator_keys:
                    if not _key_supported(action, key):
                        problems.append(f"{sid}: {action} does not support the condition key {key}")
    return problems


def _resource_problem(action: str, kinds: tuple[str, ...], resource: str, principal: str) -> str | None:
    if any(a == action and re.fullmatch(r, resource) for a, r, _ in RESOURCE_EXCEPTIONS):
        return None
    if not kinds:
        return None if resource == "*" else f"{action} has no resource type: Resource must be '*', got {resource}"
    if resource == "*":
        return f"{action} takes {', '.join(kinds)}: '*' is wider than any of them"
    if resource_type_of(action, _sample(resource, principal)) is None:
        return f"{resource} is not an ARN of {', '.join(kinds)} (what {action} takes)"
    return None
