"""IAM in the rehearsal world: every request the moto server serves is authorised as AWS would.

Installed by ``moto_compat`` (patch 14). Never imported by the product. AWS's rules
for one decision are in ``iam_policy`` and ``iam_conditions``; here is who asks,
what is asked and what the world knows of the request (IAM User Guide pages cited
by title; https://docs.aws.amazon.com/IAM/latest/UserGuide/<page>.html).

- **Who asks.** Long-term keys are the world's own: an account's root user, which
  AWS allows everything ("Policy evaluation logic": "with the exception of the AWS
  account root user, which has full access"); they may assume any role (the
  world's set-up). Temporary credentials belong to an assumed-role session; its
  policies are its role's inline and attached policies, intersected with the
  session policy passed to AssumeRole, which moto keeps on the session ("Policies
  and permissions in IAM", access_policies, "Session policies"). The world's
  *staff* (an account's administrator, for the world's set-up and for tests acting
  as "someone else") is a session of ``arn:aws:iam::<account>:role/RehearsalWorldStaff``,
  a role IAM does not hold (nor may create), which only the world's own keys can
  assume. A session of any other role IAM no longer holds is refused everything:
  "the permissions assigned to temporary security credentials are evaluated each
  time a request is made that uses the credentials" ("Controlling permissions for
  temporary security credentials", id_credentials_temp_control-access), and a
  role's inline policies "are deleted when you delete the identity" ("Policies and
  permissions in IAM").
- **What is asked.** The action (``service:Operation``), the resources AWS
  authorises it on (the Service Authorization Reference's resource type for that
  operation: stacks, hosted zones, changes, roles, functions, log groups,
  secrets; ``*`` where the operation has none). Change-set operations are
  authorised on their stack (resource type ``stack``, condition key
  ``cloudformation:ChangeSetName``): a change set the world has seen and that is
  gone is still authorised on its stack, and the service answers that it is not
  found. An operation this module has no resource model for is refused (fail
  closed), never allowed.
- **The request context** ("AWS global condition context keys",
  reference_policies_condition-keys): ``aws:PrincipalArn`` ("For IAM roles, the
  request context returns the ARN of the role": the role's ARN, path included),
  ``aws:PrincipalAccount``, ``aws:PrincipalTag/<key>`` (the role's tags; session
  tags are refused at AssumeRole) and ``aws:RequestedRegion`` ("the AWS Region that
  was called in the request": the request's signing region; IAM "calls are always
  made to the us-east-1 Region", and Route 53 requests are signed for us-east-1,
  AWS General Reference, "Amazon Route 53 endpoints and quotas"). Then what each
  operation carries: Route 53's ``ChangeResourceRecordSets*`` keys with AWS's name
  normalisation, ``aws:ResourceTag/*`` of a secret, ``aws:RequestTag/*`` of a new
  secret, ``iam:PassedToService``; for AssumeRole ``sts:ExternalId``,
  ``sts:RoleSessionName`` and the role's ``iam:ResourceTag/*`` (Service
  Authorization Reference, "Actions, resources, and condition keys for AWS
  Security Token Service"). A context naming one key of a family
  (``aws:ResourceTag/...``) names the whole family: it is built from the whole tag
  list. A condition on any other key is refused: AWS would fill it, the world
  cannot (``aws:userid``, ``aws:SourceIp``, ``aws:CurrentTime``, ...).
- **Across accounts** ("Cross-account policy evaluation logic"): a request on a
  resource of another account needs that resource's policy too. AssumeRole has it
  (the role's trust policy); the world models no other resource-based policy, so
  any other cross-account request is refused (Route 53 has none at all).
- **AssumeRole** needs the role's trust policy and the caller's identity (and
  session) policies as ``iam_policy.decide`` says; AssumeRole's session tags,
  managed session policies (``PolicyArns``), source identity and provided contexts
  are refused (moto would drop them: the session would be more powerful than AWS's).
- **CloudFormation acts as its caller** (no service role): creating, updating or
  deleting a template resource needs the caller's permission for each action the
  resource type's handler calls (``iam_handlers``, from the type's resource schema); a
  refusal fails the resource and the stack rolls back, as on AWS. Importing a resource
  (patch 20) needs its type's read-handler actions, when the change set is made and when
  it is executed; ``CreateChangeSet`` carries ``cloudformation:ImportResourceTypes``.
- **The custom resource's function** runs with its execution role's credentials
  (minted as the Lambda service would, if the role trusts ``lambda.amazonaws.com``).

``GRANTED`` records every (principal ARN, action) the world allowed to a
non-staff caller, so tests can show a policy holds nothing unused.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Collection

from tools.rehearsal import iam_policy
from tools.rehearsal.iam_conditions import UnsupportedCondition, change_context
from tools.rehearsal.iam_handlers import handler_requests
from tools.rehearsal.moto_compat.protocol import members, route53_operation

ENABLED = True
STAFF_ROLE = "RehearsalWorldStaff"
GRANTED: set[tuple[str, str]] = set()
_acting = threading.local()
# The Region AWS documents for a global service's requests (aws:RequestedRegion).
_GLOBAL_REGION = {"iam": "us-east-1", "route53": "us-east-1"}
# Keys every request of a session carries (or, for a family, carries all of).
_ALWAYS_MODELLED = frozenset({"aws:principalarn", "aws:principalaccount", "aws:principaltag/"})
# AssumeRole's own keys; aws:RequestTag and sts:SourceIdentity are absent: passing them is refused.
_ASSUME_ROLE_MODELLED = frozenset(
    {"sts:externalid", "sts:rolesessionname", "iam:resourcetag/", "aws:requesttag/", "sts:sourceidentity"}
)
_REFUSED_ASSUME_ROLE_PARAMETERS = ("PolicyArns", "Tags", "TransitiveTagKeys", "SourceIdentity", "ProvidedContexts")
_ADMINISTRATOR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
_CHANGE_SET_STACKS: dict[str, str] = {}  # every change set the world has seen → its stack


class AccessDenied(Exception):
    """AWS's AccessDenied, with AWS's message shape ("Troubleshoot access denied error messages")."""

    def __init__(
        self, principal_arn: str, action: str, resource: str, verdict: str, note: str = "", policy: str = ""
    ) -> None:
        message = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource} "
        message += _reason(verdict, action, policy or "identity-based")
        super().__init__(message + (f" ({note})" if note else ""))
        self.action = action


def _reason(verdict: str, action: str, policy: str) -> str:
    if verdict == iam_policy.EXPLICIT_DENY:
        article = {"identity-based": "an", "role trust": "the"}.get(policy, "a")
        return f"with an explicit deny in {article} {policy} policy"
    return f"because no {policy} policy allows the {action} action"


# -- who asks -------------------------------------------------------------------------------


class Caller:
    """A request's principal: staff (everything allowed) or a session of a role IAM holds (or held)."""

    def __init__(
        self,
        principal: iam_policy.Principal,
        policies: list[dict] | None,
        role=None,
        session_policies: list[dict] | None = None,
        tags: dict[str, str] | None = None,
        gone: bool = False,
    ) -> None:
        self.principal = principal
        self.policies = policies  # None: staff or root, allowed everything
        self.role = role
        self.session_policies = session_policies  # None: AssumeRole was given no session policy
        self.tags = tags or {}
        self.gone = gone  # a session of a role IAM no longer holds

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


def _account_and_name(role_arn: str) -> tuple[str, str]:
    """``arn:aws:iam::<account>:role/<path>/<name>`` → (account, name)."""
    return role_arn.split(":")[4], role_arn.split("/")[-1]


def _document(document) -> dict:
    """A policy document as a dict; a JSON text is parsed once per text (the dict is shared: nothing changes it)."""
    return _parsed(document) if isinstance(document, str) else document


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> dict:
    return json.loads(text)


def role_policies(account: str, name: str) -> list[dict]:
    """A role's inline and attached policies, as documents."""
    role = _role(account, name)
    documents = [_document(doc) for doc in role.policies.values()]
    for policy in role.managed_policies.values():
        version = policy.default_version_id if hasattr(policy, "default_version_id") else None
        document = next((v.document for v in policy.versions if v.version_id == version), None)
        documents.append(_document(document))
    return documents


def _session(access_key: str):
    from moto.sts.models import sts_backends

    for account, partitions in list(sts_backends.items()):
        backend = partitions.get("aws") if hasattr(partitions, "get") else None
        for assumed in getattr(backend, "assumed_roles", []) or []:
            if assumed.access_key_id == access_key:
                return account, assumed
    return None, None


def _is_staff_session(session) -> bool:
    account, name = _account_and_name(session.role_arn)
    return session.role_arn == f"arn:aws:iam::{account}:role/{STAFF_ROLE}" and _role(account, name) is None


def caller_for(access_key: str, default_account: str) -> Caller:
    """The principal behind an access key ID."""
    _, session = _session(access_key)
    if session is None:  # long-term keys: the world's own (root)
        arn = f"arn:aws:iam::{default_account}:root"
        return Caller(iam_policy.Principal(arn, default_account), None)
    account, name = _account_and_name(session.role_arn)
    arn = f"arn:aws:sts::{account}:assumed-role/{name}/{session.session_name}"
    if _is_staff_session(session):
        return Caller(iam_policy.Principal(arn, account, role_arn=session.role_arn), None)
    role = _role(account, name)
    if role is None or role.arn != session.role_arn:  # deleted (or another role now holds the name)
        return Caller(iam_policy.Principal(arn, account, role_arn=session.role_arn), [], gone=True)
    return Caller(
        iam_policy.Principal(arn, account, role_arn=role.arn),
        role_policies(account, name),
        role,
        session_policies=[_document(session.policy)] if session.policy else None,
        tags={tag["Key"]: tag["Value"] for tag in role.tags or []},
    )


# -- what is asked: resources and context per operation --------------------------------------

# Route 53's ChangeResourceRecordSets keys: filled for that operation, absent from every other.
_ROUTE53_MODELLED = frozenset(
    {
        "route53:changeresourcerecordsetsactions",
        "route53:changeresourcerecordsetsnormalizedrecordnames",
        "route53:changeresourcerecordsetsrecordtypes",
    }
)

# CloudFormation operations that take no stack (their resource is "*").
_CFN_UNSCOPED = {
    "DescribeStackDriftDetectionStatus",
    "ValidateTemplate",
    "ListStacks",
    "ListExports",
    "ListImports",
    "EstimateTemplateCost",
}


class Asked:
    """What a request asks: the action, its resources, its context, and the key families that context models."""

    def __init__(self, action: str, resources: list[str], context: dict | None = None, modelled=frozenset()):
        self.action, self.resources, self.context, self.modelled = action, resources, context or {}, modelled


def _route53(method: str, path: str, body: str) -> Asked:
    operation, kind, resource_id = route53_operation(method, path)
    if not operation:
        return Asked(f"route53:{method} {path}", [])
    resource = f"arn:aws:route53:::{kind}/{resource_id}" if kind else "*"
    context = _change_batch_context(body) if operation == "ChangeResourceRecordSets" else {}
    return Asked(f"route53:{operation}", [resource], context, _ROUTE53_MODELLED)


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


def _change_set_stack(backend, change_set_arn: str) -> str | None:
    """The stack a change set belongs (or belonged) to: remembered from every change set the world has seen."""
    for arn, change_set in list(backend.change_sets.items()):
        _CHANGE_SET_STACKS[arn] = change_set.stack_id
    return _CHANGE_SET_STACKS.get(change_set_arn)


def _cloudformation(operation: str, params: dict, account: str, region: str) -> list[str]:
    from moto.cloudformation import cloudformation_backends

    backend = cloudformation_backends[account][region]
    if operation in _CFN_UNSCOPED:
        return ["*"]
    change_set = params.get("ChangeSetName", "")
    stack = _change_set_stack(backend, change_set) if change_set.startswith("arn:") else None
    if stack:
        return [stack]
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


def _import_resource_types(operation: str, response) -> tuple[dict, frozenset]:
    """``cloudformation:ImportResourceTypes``: the types a CreateChangeSet's ``ResourcesToImport`` declares
    ("Controlling access with IAM": the key "is checked against the resource types that users declare in the
    ResourcesToImport parameter"); absent from a request without them and from every other operation (so the
    documented "deny all import operations" policy, ``cloudformation:*`` with that key, denies imports only)."""
    types = members(response.querystring, "ResourcesToImport", "ResourceType") if operation == "CreateChangeSet" else []
    return ({"cloudformation:ImportResourceTypes": types} if types else {}), frozenset(
        {"cloudformation:importresourcetypes"}
    )


def request_of(response, service: str, default_account: str) -> Asked:
    """What a moto response object is serving."""
    region = getattr(response, "region", "us-east-1")
    if service == "route53":
        return _route53(response.method, response.path, response.body or "")
    params = _params(response)
    operation = response._get_action()
    action = f"{service}:{operation}"
    account = default_account
    if service == "cloudformation":
        context, modelled = _import_resource_types(operation, response)
        return Asked(action, _cloudformation(operation, params, account, region), context, modelled)
    if service == "sts" and operation in ("AssumeRole", "GetCallerIdentity"):
        return Asked(action, [params.get("RoleArn", "")] if operation == "AssumeRole" else ["*"])
    if service == "ec2" and operation == "DescribeRegions":  # no resource type (Service Authorization Reference)
        return Asked(action, ["*"])
    if service == "iam" and operation == "GetRole":  # authorised on the role's ARN, path and all
        name = params.get("RoleName", "")
        role = _role(account, name)
        return Asked(action, [role.arn if role is not None else f"arn:aws:iam::{account}:role/{name}"])
    if service == "iam" and operation == "SimulatePrincipalPolicy":
        return Asked(action, [params.get("PolicySourceArn", "")])
    if service == "secretsmanager":
        if operation in ("ListSecrets", "GetRandomPassword"):
            return Asked(action, ["*"])
        resources, context = _secret(params, account, region)
        return Asked(action, resources, context, frozenset({"aws:resourcetag/"}))
    return Asked(action, [])


def _params(response) -> dict:
    body = response.body or ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body.startswith("{"):
        return json.loads(body)
    return {k: v[0] if isinstance(v, list) else v for k, v in response.querystring.items()}


# -- the decision -------------------------------------------------------------------------


def _requested_region(action: str) -> str | None:
    """aws:RequestedRegion: a global service's documented Region, else the Region the request being served called."""
    return _GLOBAL_REGION.get(action.split(":", 1)[0].lower()) or getattr(_acting, "region", None)


def _request_context(caller: Caller, action: str, context: dict, modelled: Collection[str] = ()) -> tuple:
    """The full request context and the keys it models: the caller's global keys, then the operation's own."""
    principal = caller.principal
    full = {"aws:PrincipalArn": [principal.role_arn or principal.arn], "aws:PrincipalAccount": [principal.account]}
    full.update({f"aws:PrincipalTag/{key}": [value] for key, value in caller.tags.items()})
    region = _requested_region(action)
    if region:
        full["aws:RequestedRegion"] = [region]
    full.update(context)
    known = set(_ALWAYS_MODELLED) | set(modelled)
    for key in full:
        known.add(key.lower())
        if "/" in key:
            known.add(key.lower().split("/", 1)[0] + "/")  # one key of a family names the whole family
    return full, frozenset(known)


def _resource_account(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None


def _blamed(request, principal, identity, session, resource) -> str:
    """The policy type AWS's message names: the one denying explicitly, else the one that does not allow."""
    verdicts = {"identity-based": iam_policy.evaluate(identity, request)}
    if session is not None:
        verdicts["session"] = iam_policy.evaluate(session, request)
    kind = "role trust" if resource is not None and resource.required else "resource-based"
    if resource is not None:
        verdicts[kind] = iam_policy.resource_grant(resource.document, request, principal)
    explicit = [name for name, verdict in verdicts.items() if verdict == iam_policy.EXPLICIT_DENY]
    if explicit:
        return explicit[0]
    if verdicts.get(kind) == iam_policy.IMPLICIT_DENY:
        return kind
    return "session" if verdicts.get("session", iam_policy.ALLOW) != iam_policy.ALLOW else "identity-based"


def _decide(caller: Caller, request, identity, session, resource=None, note: str = "") -> None:
    """Raise AccessDenied unless AWS would allow ``request`` (one resource); refuse what the evaluator cannot decide."""
    target = request.resources[0]
    try:
        verdict = iam_policy.decide(request, caller.principal, identity, session, resource)
        blamed = _blamed(request, caller.principal, identity, session, resource) if verdict != iam_policy.ALLOW else ""
    except UnsupportedCondition as refused:
        raise AccessDenied(
            caller.principal.arn, request.action, target, iam_policy.IMPLICIT_DENY, f"refused: {refused}"
        ) from None
    if verdict != iam_policy.ALLOW:
        if caller.gone:
            note = note or "the role no longer exists: its policies were deleted with it"
        raise AccessDenied(caller.principal.arn, request.action, target, verdict, note, blamed)


def _with_all_variables(caller: Caller) -> tuple[list[dict], list[dict] | None]:
    identity = [_with_variables(p, caller) for p in caller.policies or []]
    session = caller.session_policies
    return identity, None if session is None else [_with_variables(p, caller) for p in session]


def authorize(
    caller: Caller,
    action: str,
    resources: list[str],
    context: dict,
    note: str = "",
    *,
    modelled: Collection[str] = (),
) -> None:
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
    full, known = _request_context(caller, action, context, modelled)
    identity, session = _with_all_variables(caller)
    for resource in resources:
        other = _resource_account(resource)
        policy, why = None, note
        if other and other != caller.principal.account:  # the world models no resource-based policy
            policy = iam_policy.ResourcePolicy({}, other)
            why = note or "across accounts the resource's policy must allow it too; the world models none for it"
        _decide(caller, iam_policy.Request(action, [resource], full, known), identity, session, policy, why)
    GRANTED.add((caller.principal.role_arn, action))


def _with_variables(policy: dict, caller: Caller) -> dict:
    """``${aws:PrincipalArn}`` in a policy, replaced as IAM does ("IAM policy elements: Variables and tags").

    Any other variable stays: the evaluator refuses a statement that uses it.
    """
    principal = caller.principal.role_arn or caller.principal.arn
    key = (id(policy), principal)
    kept = _SUBSTITUTED.get(key)
    if kept is not None and kept[0] is policy:  # the same document for the same principal: the same answer
        return kept[1]
    text = json.dumps(policy)
    substituted = json.loads(text.replace("${aws:PrincipalArn}", principal)) if "${" in text else policy
    if len(_SUBSTITUTED) >= 4096:
        _SUBSTITUTED.clear()
    _SUBSTITUTED[key] = (policy, substituted)  # the document is kept with it: its id is not reused while cached
    return substituted


# (id of a policy document, principal) -> (that document, it with the principal's variables): every request of
# a command evaluates the same few documents (parsed once each by ``_parsed``, and never changed).
_SUBSTITUTED: dict[tuple[int, str], tuple[dict, dict]] = {}


def simulate(source: str, actions: list[str], resources: list[str], context: dict) -> list[tuple[str, str]]:
    """IAM's policy simulator for a role: (action, ``allowed``/``explicitDeny``/``implicitDeny``)."""
    account, name = _account_and_name(source)
    role = _role(account, name) if ":role/" in source else None
    if role is None or role.arn != source:
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


def _assume_role_context(role, params: dict) -> dict:
    """AssumeRole's own keys: the session name, the external ID if given, the role's tags."""
    context = {"sts:RoleSessionName": [params.get("RoleSessionName", "")]}
    if "ExternalId" in params:
        context["sts:ExternalId"] = [params["ExternalId"]]
    context.update({f"iam:ResourceTag/{tag['Key']}": [tag["Value"]] for tag in role.tags or []})
    return context


def _refused_parameters(params: dict) -> list[str]:
    return sorted({key.split(".")[0] for key in params if key.split(".")[0] in _REFUSED_ASSUME_ROLE_PARAMETERS})


def authorize_assume_role(caller: Caller, role_arn: str, params: dict | None = None) -> None:
    """The role's trust policy and the caller's identity and session policies, as AWS evaluates AssumeRole."""
    params = params or {}
    if caller.staff and caller.principal.arn.endswith(":root"):
        return  # the world's own keys: its set-up, and staff of any account
    denied = (caller.principal.arn, "sts:AssumeRole", role_arn, iam_policy.IMPLICIT_DENY)
    refused = _refused_parameters(params)
    if refused:
        raise AccessDenied(*denied, f"refused: the rehearsal world does not model AssumeRole's {', '.join(refused)}")
    account, name = _account_and_name(role_arn)
    role = _role(account, name)
    if role is None or role.arn != role_arn:
        raise AccessDenied(*denied, "no such role", "role trust")
    trust = iam_policy.ResourcePolicy(_document(role.assume_role_policy_document), account, required=True)
    own = _assume_role_context(role, params)
    context, known = _request_context(caller, "sts:AssumeRole", own, _ASSUME_ROLE_MODELLED)
    identity, session = ([_ADMINISTRATOR], None) if caller.staff else _with_all_variables(caller)
    _decide(caller, iam_policy.Request("sts:AssumeRole", [role_arn], context, known), identity, session, trust)
    if not caller.staff:
        GRANTED.add((caller.principal.role_arn, "sts:AssumeRole"))


# -- the moto hook (patch 14) -----------------------------------------------------------------


def check_request(response) -> None:
    """Authorise the request a moto response object is about to serve; raise AccessDenied."""
    headers = response.headers
    authorization = headers.get("Authorization", "")
    match = re.search(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/", authorization)
    if not match:
        return  # unsigned: moto's own API (/moto-api) and the world's health probes
    access_key, region, service = match.groups()
    default_account = response.current_account
    caller = caller_for(access_key, default_account)
    _acting.caller, _acting.region = caller, region
    if not ENABLED:
        return
    asked = request_of(response, service, default_account)
    if asked.action == "iam:CreateRole" and _params(response).get("RoleName") == STAFF_ROLE:
        note = f"{STAFF_ROLE} names the world's staff: IAM may not hold a role of that name"
        raise AccessDenied(caller.principal.arn, asked.action, "*", iam_policy.IMPLICIT_DENY, note)
    if asked.action == "sts:AssumeRole":
        authorize_assume_role(caller, asked.resources[0], _params(response))
        return
    if asked.action == "sts:GetCallerIdentity":
        return
    authorize(caller, asked.action, asked.resources, asked.context, modelled=asked.modelled)


def acting_caller() -> Caller | None:
    """The caller whose request CloudFormation is now serving (it acts with their permissions)."""
    return getattr(_acting, "caller", None)


# -- CloudFormation acting with its caller's permissions ---------------------------------------


class HandlerAccessDenied(Exception):
    """A template resource CloudFormation may not create, update or delete with its caller's permissions."""


def drift_check_refusal(
    stack_id: str, resource_type: str, props: dict, physical: str, account: str, region: str
) -> str | None:
    """Why CloudFormation cannot check one resource's drift with its caller's permissions (None: it can).

    "Detect drift on an entire CloudFormation stack" (CloudFormation User Guide): the caller needs
    ``cloudformation:DetectStackResourceDrift`` and read permission for each resource, which is the
    type's read handler (``iam_handlers``).
    """
    caller = acting_caller()
    if caller is None or caller.staff or not ENABLED:
        return None
    requests = [("cloudformation:DetectStackResourceDrift", [stack_id], {})]
    requests += handler_requests(resource_type, "read", props, physical, account, region)
    for action, resources, context in requests:
        try:
            authorize(caller, action, resources, context)
        except AccessDenied as denied:
            return str(denied)
    return None


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
