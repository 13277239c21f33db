"""IAM policy evaluation for the rehearsal world: does a policy set allow one request?

Never imported by the product. Each rule below is AWS's, from the IAM User Guide
(https://docs.aws.amazon.com/IAM/latest/UserGuide/<page>.html):

- "Policy evaluation logic" (reference_policies_evaluation-logic) and "How AWS
  enforcement code logic evaluates requests to allow or deny access"
  (reference_policies_evaluation-logic_policy-eval-denyallow): every request
  starts denied (implicit deny); an explicit ``Deny`` in any applicable policy
  (resource-based, identity-based, session policy) wins over every ``Allow``.
- Same account, resource-based policies (same page, "Resource-based policies"):
  one ``Allow`` in an identity-based *or* a resource-based policy allows, except
  that "IAM role trust policies ... must explicitly allow access for principals".
  A resource-based ``Allow`` that names the calling session (or an IAM user) is
  "not limited by an implicit deny in an identity-based policy, a permissions
  boundary, or session policy"; one that names the role is "limited by an implicit
  deny in a permissions boundary or session policy"; one that names the account
  (``arn:aws:iam::<id>:root`` or the bare ID) "delegates authority to the account",
  whose identity-based policies must then allow ("AWS JSON policy elements:
  Principal", reference_policies_elements_principal, "AWS account principals").
  ``"*"`` grants "all users ... For IAM users and role principals within your
  account, no other permissions are required" (same page, "All principals").
- Session policies ("Policies and permissions in IAM", access_policies, "Session
  policies"): "The permissions for a session are the intersection of the
  identity-based policies for the IAM entity ... and the session policies ... An
  explicit deny in any of these policies overrides the allow"; a resource-based
  policy naming the session ARN is "not limited by the session policy".
- "Cross-account policy evaluation logic" (reference_policies_evaluation-logic-cross-account):
  the request is allowed "only if both evaluations return a decision of Allow":
  the caller's account (identity-based and session policies) and the resource's
  account (its resource-based policy; for ``sts:AssumeRole``, the trust policy).
- "IAM JSON policy elements: Action / NotAction": ``service:Action``,
  case-insensitive, ``*`` and ``?`` wildcards. ``NotAction`` matches every action
  but the listed ones.
- "IAM JSON policy elements: Resource / NotResource": ARNs with ``*`` and ``?``
  wildcards (which may span the ARN's parts in ``Resource``), case-sensitive.
- "IAM JSON policy elements: Condition": see ``iam_conditions``; a statement
  applies only when its whole ``Condition`` block holds.
- "AWS JSON policy elements: Principal": an IAM role is named by its ARN, path
  included (``arn:aws:iam::<id>:role/<path>/<name>``, "IAM identifiers",
  reference_identifiers); an assumed-role session by
  ``arn:aws:sts::<id>:assumed-role/<role-name>/<session>`` (no path); "You cannot
  use a wildcard to match part of a principal name or ARN" (refused here), and
  ``NotPrincipal`` is not implemented (refused).
- "IAM policy elements: Variables and tags": a variable (``${...}``) the caller has
  not resolved is refused wherever the evaluator meets it.
- ``sts:GetCallerIdentity`` needs no permission and cannot be denied (STS API
  reference, GetCallerIdentity: "No permissions are required to perform this
  operation. If an administrator attaches a policy to your identity that
  explicitly denies access to the sts:GetCallerIdentity action, you can still
  perform this operation").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from tools.rehearsal.iam_conditions import UnsupportedCondition, condition_holds

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicit deny", "implicit deny"
ALWAYS_ALLOWED = frozenset({"sts:getcalleridentity"})
# How a resource-based policy's Allow names the caller, strongest first.
NAMES_SESSION, NAMES_ROLE, NAMES_ACCOUNT = "session", "role", "account"
_STRENGTH = {NAMES_SESSION: 3, NAMES_ROLE: 2, NAMES_ACCOUNT: 1}


class Unsupported(UnsupportedCondition):
    """A policy this evaluator cannot decide as AWS would (NotPrincipal, a partial principal wildcard)."""


def _as_list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, (str, dict)) else list(value)


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, flags=re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _wildcard(pattern: str, value: str, ignore_case: bool) -> bool:
    return _compiled(pattern, ignore_case).fullmatch(value) is not None


@dataclass(frozen=True)
class Principal:
    """Who is asking: the ARN AWS reports for the caller, its account, and the role behind a session."""

    arn: str  # root, IAM user, or arn:aws:sts::<account>:assumed-role/<name>/<session>
    account: str
    role_arn: str = ""  # for an assumed-role session: the role's ARN, path included
    service: str = ""  # for a service principal: lambda.amazonaws.com


@dataclass
class Request:
    """One authorisation question: an action on resources, with its condition context.

    ``modelled``: the lowercased context keys (``family/`` for a family such as
    ``aws:principaltag/``) whose absence from ``context`` is AWS's answer too;
    None when ``context`` is complete (a condition on any other key is refused).
    """

    action: str
    resources: Sequence[str]
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)
    modelled: Collection[str] | None = None


def _element_matches(statement: Mapping, element: str, value: str, ignore_case: bool) -> bool | None:
    """``Action``/``Resource`` (or their ``Not`` forms) against ``value``; None when the statement has neither."""
    for key, wanted in ((element, True), (f"Not{element}", False)):
        if key in statement:
            patterns = _as_list(statement[key])
            if any("${" in p for p in patterns):
                raise Unsupported(f"a policy variable the rehearsal world did not resolve: {patterns}")
            hit = any(_wildcard(p, value, ignore_case) for p in patterns)
            return hit is wanted
    return None


def _statement_applies(statement: Mapping, request: Request, resource: str, principal: Principal | None) -> bool:
    if not _element_matches(statement, "Action", request.action, True):
        return False
    resource_matches = _element_matches(statement, "Resource", resource, False)
    if resource_matches is False or (resource_matches is None and principal is None):
        return False  # an identity policy's statement needs a Resource or NotResource
    if principal is not None and named_as(statement, principal) is None:
        return False
    return condition_holds(statement.get("Condition", {}), request.context, request.modelled)


def _aws_entry_names(entry: str, principal: Principal) -> str | None:
    if entry == "*":
        return NAMES_SESSION
    if "*" in entry or "?" in entry:
        raise Unsupported(f"a wildcard in part of a principal ({entry!r}) is not valid IAM")
    if entry in (principal.account, f"arn:aws:iam::{principal.account}:root"):
        return NAMES_ACCOUNT
    if entry == principal.arn:
        return NAMES_SESSION
    if principal.role_arn and entry == principal.role_arn:
        return NAMES_ROLE
    return None


def named_as(statement: Mapping, principal: Principal) -> str | None:
    """How a resource policy statement's ``Principal`` names the caller: session, role, account, or None."""
    if "NotPrincipal" in statement:
        raise Unsupported("NotPrincipal is not implemented by the rehearsal world's evaluator")
    named = statement.get("Principal")
    if named == "*":
        return NAMES_SESSION
    if not isinstance(named, Mapping):
        return None
    if principal.service:
        return NAMES_SESSION if principal.service in _as_list(named.get("Service")) else None
    found = [_aws_entry_names(entry, principal) for entry in _as_list(named.get("AWS"))]
    found = [f for f in found if f]
    return max(found, key=_STRENGTH.__getitem__) if found else None


def principal_matches(statement: Mapping, principal: Principal) -> bool:
    """Whether a resource policy statement's ``Principal`` names the caller (``NotPrincipal`` is refused)."""
    return named_as(statement, principal) is not None


def _statements(policies: Sequence[Mapping]) -> list[Mapping]:
    return [s for p in policies for s in _as_list(p.get("Statement"))]


def evaluate(policies: Sequence[Mapping], request: Request, principal: Principal | None = None) -> str:
    """``allowed``, ``explicit deny`` or ``implicit deny`` for ``request`` under ``policies``.

    ``principal`` is given for resource-based policies (a role's trust policy),
    whose statements must name the caller. Every resource must be allowed.
    """
    if request.action.lower() in ALWAYS_ALLOWED:
        return ALLOW
    statements = _statements(policies)
    verdict = ALLOW
    for resource in request.resources or ["*"]:
        allowed = False
        for statement in statements:
            if _statement_applies(statement, request, resource, principal):
                if statement.get("Effect") == "Deny":
                    return EXPLICIT_DENY
                if statement.get("Effect") == "Allow":
                    allowed = True
        if not allowed:
            verdict = IMPLICIT_DENY
    return verdict


def resource_grant(policy: Mapping, request: Request, principal: Principal) -> str:
    """A resource-based policy's answer: ``explicit deny``, ``implicit deny``, or how its Allow names the caller."""
    if evaluate([policy], request, principal) == EXPLICIT_DENY:
        return EXPLICIT_DENY
    resource = (request.resources or ["*"])[0]
    names = [
        named_as(s, principal)
        for s in _statements([policy])
        if s.get("Effect") == "Allow" and _statement_applies(s, request, resource, principal)
    ]
    return max(names, key=_STRENGTH.__getitem__) if names else IMPLICIT_DENY


@dataclass
class ResourcePolicy:
    """A resource's own policy and account; ``required``: it must allow (a role's trust policy)."""

    document: Mapping
    account: str
    required: bool = False


def decide(
    request: Request,
    principal: Principal,
    identity: Sequence[Mapping],
    session: Sequence[Mapping] | None = None,
    resource: ResourcePolicy | None = None,
) -> str:
    """AWS's decision on one resource for a caller with identity (and session) policies, and the resource's policy."""
    own = [evaluate(identity, request)] + ([] if session is None else [evaluate(session, request)])
    grant = resource_grant(resource.document, request, principal) if resource else IMPLICIT_DENY
    if EXPLICIT_DENY in (*own, grant):
        return EXPLICIT_DENY
    identity_allows, session_allows = own[0] == ALLOW, session is None or own[-1] == ALLOW
    if resource is not None and resource.required and grant == IMPLICIT_DENY:
        return IMPLICIT_DENY
    if resource is not None and resource.account != principal.account:  # both accounts must allow
        return ALLOW if grant != IMPLICIT_DENY and identity_allows and session_allows else IMPLICIT_DENY
    if grant == NAMES_SESSION:
        return ALLOW
    if grant == NAMES_ROLE:
        return ALLOW if session_allows else IMPLICIT_DENY
    return ALLOW if identity_allows and session_allows else IMPLICIT_DENY
