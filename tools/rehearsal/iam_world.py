"""IAM in the rehearsal world: every request the moto server serves is authorised as AWS would.

Installed by ``moto_compat`` (patch 14). Never imported by the product.

- **Who asks.** Temporary credentials belong to an assumed-role session; its
  policies are its role's inline and attached policies. A role IAM does not
  hold is the world's *staff* (the account's administrator, for the world's own
  set-up and for tests acting as "someone else"): only the world's own long-term
  keys may assume one, and it may do anything. Long-term keys are the world's
  own (an account's root user, which AWS allows everything).
- **What is asked.** The action (``service:Operation``), the resources AWS
  authorises it on (the Service Authorization Reference's resource type for that
  operation: stacks, hosted zones, changes, roles, functions, log groups,
  secrets; ``*`` where the operation has none) and the condition keys this
  project's policies use: ``aws:PrincipalArn``, Route 53's
  ``ChangeResourceRecordSets*`` keys with AWS's name normalisation,
  ``aws:ResourceTag/*`` of secrets, ``aws:RequestTag/*`` of a new secret and
  ``iam:PassedToService``. An operation this module has no resource model for is
  refused (fail closed), never allowed.
- **AssumeRole** needs the caller's identity policy and the role's trust policy
  (``iam_policy`` says when one suffices).
- **CloudFormation acts as its caller** (no service role): creating, updating or
  deleting a template resource needs the caller's permission for each action the
  resource type's handler calls (``iam_handlers``, from the type's resource schema); a
  refusal fails the resource and the stack rolls back, as on AWS.
- **The custom resource's function** runs with its execution role's credentials
  (minted as the Lambda service would, if the role trusts ``lambda.amazonaws.com``).

``GRANTED`` records every (principal ARN, action) the world allowed to a
non-staff caller, so tests can show a policy holds nothing unused.
"""

from __future__ import annotations

import json
import re
import threading
from urllib.parse import unquote

from tools.rehearsal import iam_policy
from tools.rehearsal.iam_conditions import change_context
from tools.rehearsal.iam_handlers import handler_requests

ENABLED = True
STAFF_ROLE = "RehearsalWorldStaff"
GRANTED: set[tuple[str, str]] = set()
_acting = threading.local()


class AccessDenied(Exception):
    """AWS's AccessDenied, with AWS's message shape."""

    def __init__(self, principal_arn: str, action: str, resource: str, verdict: str, note: str = "") -> None:
        reason = (
            "with an explicit deny in an identity-based policy"
            if verdict == iam_policy.EXPLICIT_DENY
            else f"because no identity-based policy allows the {action} action"
        )
        message = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource} {reason}"
        super().__init__(message + (f" ({note})" if note else ""))
        self.action = action


# -- who asks -------------------------------------------------------------------------------


class Caller:
    """A request's principal: staff (everything allowed) or a session of a role IAM holds."""

    def __init__(self, principal: iam_policy.Principal, policies: list[dict] | None, role=None) -> None:
        self.principal = principal
        self.policies = policies  # None: staff or root, allowed everything
        self.role = role

    @property
    def staff(self) -> bool:
        return self.policies is None


def _iam(account: str):
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


def _role(account: str, name: str):
    try:
        return _iam(account).get_role(name)
    except Exception:  # noqa: BLE001 - moto's NoSuchEntity: IAM does not hold it
        return None


def role_policies(account: str, name: str) -> list[dict]:
    """A role's inline and attached policies, as documents."""
    role = _role(account, name)
    documents = [json.loads(doc) if isinstance(doc, str) else doc for doc in role.policies.values()]
    for policy in role.managed_policies.values():
        version = policy.default_version_id if hasattr(policy, "default_version_id") else None
        document = next((v.document for v in policy.versions if v.version_id == version), None)
        documents.append(json.loads(document) if isinstance(document, str) else document)
    return documents


def _session(access_key: str):
    from moto.sts.models import sts_backends

    for account, partitions in list(sts_backends.items()):
        backend = partitions.get("aws") if hasattr(partitions, "get") else None
        for assumed in getattr(backend, "assumed_roles", []) or []:
            if assumed.access_key_id == access_key:
                return account, assumed
    return None, None


def caller_for(access_key: str, default_account: str) -> Caller:
    """The principal behind an access key ID."""
    _, session = _session(access_key)
    if session is None:  # long-term keys: the world's own (root)
        arn = f"arn:aws:iam::{default_account}:root"
        return Caller(iam_policy.Principal(arn, default_account), None)
    role_arn = session.role_arn
    account = role_arn.split(":")[4]
    name = role_arn.split("/")[-1]
    arn = f"arn:aws:sts::{account}:assumed-role/{name}/{session.session_name}"
    principal = iam_policy.Principal(arn, account, role_arn=f"arn:aws:iam::{account}:role/{name}")
    role = _role(account, name)
    if role is None:
        return Caller(principal, None)  # staff
    return Caller(principal, role_policies(account, name), role)


# -- what is asked: resources and context per operation --------------------------------------

_ROUTE53 = [
    ("POST", r"/hostedzone", "CreateHostedZone", None),
    ("GET", r"/hostedzone", "ListHostedZones", None),
    ("GET", r"/hostedzonesbyname", "ListHostedZonesByName", None),
    ("GET", r"/hostedzone/([^/]+)", "GetHostedZone", "hostedzone"),
    ("DELETE", r"/hostedzone/([^/]+)", "DeleteHostedZone", "hostedzone"),
    ("GET", r"/hostedzone/([^/]+)/rrset/?", "ListResourceRecordSets", "hostedzone"),
    ("POST", r"/hostedzone/([^/]+)/rrset/?", "ChangeResourceRecordSets", "hostedzone"),
    ("GET", r"/tags/hostedzone/([^/]+)", "ListTagsForResource", "hostedzone"),
    ("POST", r"/tags/hostedzone/([^/]+)", "ChangeTagsForResource", "hostedzone"),
    ("GET", r"/change/([^/]+)", "GetChange", "change"),
    ("GET", r"/queryloggingconfig", "ListQueryLoggingConfigs", None),
]

# CloudFormation operations that take no stack (their resource is "*").
_CFN_UNSCOPED = {
    "DescribeStackDriftDetectionStatus",
    "ValidateTemplate",
    "ListStacks",
    "ListExports",
    "ListImports",
    "EstimateTemplateCost",
}


def _route53(method: str, path: str, body: str) -> tuple[str, list[str], dict]:
    path = re.sub(r"^/\d{4}-\d{2}-\d{2}", "", unquote(path.split("?", 1)[0]))
    for verb, pattern, operation, kind in _ROUTE53:
        match = re.fullmatch(pattern, path)
        if verb == method and match:
            resource = f"arn:aws:route53:::{kind}/{match.group(1).split('/')[-1]}" if kind else "*"
            context = _change_batch_context(body) if operation == "ChangeResourceRecordSets" else {}
            return operation, [resource], context
    return f"{method} {path}", [], {}


def _change_batch_context(body: str) -> dict:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(body)
    changes = []
    for change in root.iter():
        if change.tag.endswith("}Change") or change.tag == "Change":
            fields = {child.tag.split("}")[-1]: child for child in change}
            record = {c.tag.split("}")[-1]: (c.text or "") for c in fields["ResourceRecordSet"]}
            changes.append((fields["Action"].text, record["Name"], record["Type"]))
    return change_context(changes)


def _stack_arn(backend, name_or_arn: str, account: str, region: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    for stack in backend.stacks.values():
        if stack.name == name_or_arn:
            return stack.stack_id
    return f"arn:aws:cloudformation:{region}:{account}:stack/{name_or_arn}/*"


def _cloudformation(operation: str, params: dict, account: str, region: str) -> list[str]:
    from moto.cloudformation import cloudformation_backends

    backend = cloudformation_backends[account][region]
    if operation in _CFN_UNSCOPED:
        return ["*"]
    change_set = params.get("ChangeSetName", "")
    if change_set.startswith("arn:"):
        found = backend.change_sets.get(change_set)
        if found is not None:
            return [found.stack_id]
    name = params.get("StackName")
    if not name:
        return ["*"]  # DescribeStacks of every stack
    return [_stack_arn(backend, name, account, region)]


def _secret(params: dict, account: str, region: str) -> tuple[list[str], dict]:
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[account][region]
    secret_id = params.get("SecretId", "")
    try:
        secret = backend.describe_secret(secret_id) if secret_id else None
    except Exception:  # noqa: BLE001 - no such secret: AWS authorises on the ARN it was given
        secret = None
    if secret is None:
        arn = (
            secret_id
            if secret_id.startswith("arn:")
            else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}"
        )
        return ([arn] if secret_id else ["*"]), {}
    described = secret if isinstance(secret, dict) else secret.to_dict()
    tags = {t["Key"]: [t["Value"]] for t in described.get("Tags", []) or []}
    return [described["ARN"]], {f"aws:ResourceTag/{k}": v for k, v in tags.items()}


def request_of(response, service: str, default_account: str) -> tuple[str, list[str], dict]:
    """The (action, resources, context) a moto response object is serving."""
    region = getattr(response, "region", "us-east-1")
    if service == "route53":
        operation, resources, context = _route53(response.method, response.path, response.body or "")
        return f"route53:{operation}", resources, context
    params = _params(response)
    operation = response._get_action()
    action = f"{service}:{operation}"
    account = default_account
    if service == "cloudformation":
        return action, _cloudformation(operation, params, account, region), {}
    if service == "sts":
        if operation == "AssumeRole":
            return action, [params.get("RoleArn", "")], {}
        if operation == "GetCallerIdentity":
            return action, ["*"], {}
    if service == "iam" and operation in ("SimulatePrincipalPolicy", "GetRole"):
        if operation == "GetRole":
            return action, [f"arn:aws:iam::{account}:role/{params.get('RoleName', '')}"], {}
        return action, [params.get("PolicySourceArn", "")], {}
    if service == "secretsmanager":
        if operation in ("ListSecrets", "GetRandomPassword"):
            return action, ["*"], {}
        resources, context = _secret(params, account, region)
        return action, resources, context
    return action, [], {}


def _params(response) -> dict:
    body = response.body or ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body.startswith("{"):
        return json.loads(body)
    return {k: v[0] if isinstance(v, list) else v for k, v in response.querystring.items()}


# -- the decision -------------------------------------------------------------------------


def authorize(caller: Caller, action: str, resources: list[str], context: dict, note: str = "") -> None:
    """Raise AccessDenied unless ``caller`` may perform ``action`` on every resource."""
    if caller.staff:
        return
    if not resources:
        raise AccessDenied(
            caller.principal.arn,
            action,
            "*",
            iam_policy.IMPLICIT_DENY,
            "the rehearsal world has no resource model for it",
        )
    context = {"aws:PrincipalArn": [caller.principal.role_arn or caller.principal.arn], **context}
    policies = [_with_variables(p, caller) for p in caller.policies]
    for resource in resources:
        verdict = iam_policy.evaluate(policies, iam_policy.Request(action, [resource], context))
        if verdict != iam_policy.ALLOW:
            raise AccessDenied(caller.principal.arn, action, resource, verdict, note)
    GRANTED.add((caller.principal.role_arn, action))


def _with_variables(policy: dict, caller: Caller) -> dict:
    """``${aws:PrincipalArn}`` in a policy, replaced as IAM does ("IAM policy elements: Variables and tags")."""
    text = json.dumps(policy)
    if "${" not in text:
        return policy
    text = text.replace("${aws:PrincipalArn}", caller.principal.role_arn or caller.principal.arn)
    if "${" in text:
        raise ValueError(f"policy variable not implemented by the rehearsal world: {text}")
    return json.loads(text)


def simulate(source: str, actions: list[str], resources: list[str], context: dict) -> list[tuple[str, str]]:
    """IAM's policy simulator for a role: (action, ``allowed``/``explicitDeny``/``implicitDeny``)."""
    account, name = source.split(":")[4], source.split("/")[-1]
    if ":role/" not in source or _role(account, name) is None:
        raise LookupError(f"The role with name {name} cannot be found.")
    principal = iam_policy.Principal(source, account, role_arn=source)
    caller = Caller(principal, role_policies(account, name))
    policies = [_with_variables(p, caller) for p in caller.policies]
    context = {"aws:PrincipalArn": [source], **context}
    results = []
    for action in actions:
        verdict = iam_policy.evaluate(policies, iam_policy.Request(action, resources, context))
        results.append((action, {"allowed": "allowed", "explicit deny": "explicitDeny"}.get(verdict, "implicitDeny")))
    return results


def authorize_assume_role(caller: Caller, role_arn: str) -> None:
    """Identity policy and the role's trust policy, as AWS evaluates AssumeRole."""
    if caller.staff and caller.principal.arn.endswith(":root"):
        return  # the world's own keys: its set-up, and staff of any account
    account, name = role_arn.split(":")[4], role_arn.split("/")[-1]
    role = _role(account, name)
    if role is None:
        raise AccessDenied(caller.principal.arn, "sts:AssumeRole", role_arn, iam_policy.IMPLICIT_DENY, "no such role")
    trust = role.assume_role_policy_document
    trust = json.loads(trust) if isinstance(trust, str) else trust
    request = iam_policy.Request(
        "sts:AssumeRole", [role_arn], {"aws:PrincipalArn": [caller.principal.role_arn or caller.principal.arn]}
    )
    trusted = iam_policy.evaluate([trust], request, caller.principal)
    if trusted != iam_policy.ALLOW:
        raise AccessDenied(
            caller.principal.arn,
            "sts:AssumeRole",
            role_arn,
            iam_policy.IMPLICIT_DENY,
            "the role's trust policy does not allow it",
        )
    same_account = caller.principal.account == account
    if caller.staff or (same_account and iam_policy.names_caller_itself(trust, caller.principal)):
        return
    authorize(caller, "sts:AssumeRole", [role_arn], {})


# -- the moto hook (patch 14) -----------------------------------------------------------------


def check_request(response) -> None:
    """Authorise the request a moto response object is about to serve; raise AccessDenied."""
    headers = response.headers
    authorization = headers.get("Authorization", "")
    match = re.search(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/", authorization)
    if not match:
        return  # unsigned: moto's own API (/moto-api) and the world's health probes
    access_key, _, service = match.groups()
    default_account = response.current_account
    caller = caller_for(access_key, default_account)
    _acting.caller = caller
    if not ENABLED:
        return
    action, resources, context = request_of(response, service, default_account)
    if action == "sts:AssumeRole":
        authorize_assume_role(caller, resources[0])
        return
    if action == "sts:GetCallerIdentity":
        return
    authorize(caller, action, resources, context)


def acting_caller() -> Caller | None:
    """The caller whose request CloudFormation is now serving (it acts with their permissions)."""
    return getattr(_acting, "caller", None)


# -- CloudFormation acting with its caller's permissions ---------------------------------------


class HandlerAccessDenied(Exception):
    """A template resource CloudFormation may not create, update or delete with its caller's permissions."""


def check_handler(resource_type: str, op: str, props: dict, physical: str, account: str, region: str) -> None:
    """Fail the resource, as CloudFormation does, unless the acting caller may make each handler call."""
    caller = acting_caller()
    if caller is None or caller.staff or not ENABLED:
        return
    for action, resources, context in handler_requests(resource_type, op, props, physical, account, region):
        try:
            authorize(caller, action, resources, context)
        except AccessDenied as denied:
            raise HandlerAccessDenied(
                f'Resource handler returned message: "{denied}" (HandlerErrorCode: AccessDenied)'
            ) from None


def function_role_credentials(function_arn_or_name: str, account: str, region: str) -> dict:
    """Credentials of a Lambda function's execution role, minted as the Lambda service would."""
    from moto.awslambda.utils import get_backend
    from moto.sts.models import sts_backends

    function = get_backend(account, region).get_function(function_arn_or_name)
    role_arn = function.role
    role = _role(role_arn.split(":")[4], role_arn.split("/")[-1])
    trust = role.assume_role_policy_document if role is not None else "{}"
    trust = json.loads(trust) if isinstance(trust, str) else trust
    lambda_service = iam_policy.Principal("lambda.amazonaws.com", "", service="lambda.amazonaws.com")
    request = iam_policy.Request("sts:AssumeRole", [role_arn])
    if role is None or iam_policy.evaluate([trust], request, lambda_service) != iam_policy.ALLOW:
        raise HandlerAccessDenied(f"The role defined for the function cannot be assumed by Lambda: {role_arn}")
    session = sts_backends[account]["aws"].assume_role(
        region_name=region,
        role_session_name=function.function_name[:64],
        role_arn=role_arn,
        policy=None,
        duration=900,
        external_id=None,
    )
    return {
        "aws_access_key_id": session.access_key_id,
        "aws_secret_access_key": session.secret_access_key,
        "aws_session_token": session.session_token,
        "region_name": region,
    }
