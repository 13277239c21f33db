"""IAM policy evaluation for the rehearsal world: does a policy set allow one request?

Never imported by the product. Each rule below is AWS's, from the IAM User Guide:

- "Policy evaluation logic" / "Determining whether a request is allowed or denied
  within an account": every request starts denied (implicit deny); an explicit
  ``Deny`` in any applicable policy wins over every ``Allow``; otherwise one
  ``Allow`` in an identity-based or resource-based policy allows it.
- "Cross-account policy evaluation logic": across accounts, the caller's identity
  policy *and* the resource's policy (for ``sts:AssumeRole``, the role's trust
  policy) must both allow. Within one account, a trust policy that names the
  calling role or session itself is enough; one that names the account
  (``arn:aws:iam::<id>:root`` or the bare ID) delegates to the identity policy,
  which must then allow too ("IAM JSON policy elements: Principal", "AWS account
  principals").
- "IAM JSON policy elements: Action / NotAction": ``service:Action``,
  case-insensitive, ``*`` and ``?`` wildcards. ``NotAction`` matches every action
  but the listed ones.
- "IAM JSON policy elements: Resource / NotResource": ARNs with ``*`` and ``?``
  wildcards (which may span the ARN's parts in ``Resource``), case-sensitive.
- "IAM JSON policy elements: Condition": see ``iam_conditions``; a statement
  applies only when its whole ``Condition`` block holds.
- "IAM JSON policy elements: Principal": ``AWS`` principals (account root or ID:
  every principal of that account; a role ARN: sessions of that role; an
  assumed-role session ARN: that session), ``Service`` principals, ``*``.
- ``sts:GetCallerIdentity`` needs no permission and cannot be denied (STS API
  reference, GetCallerIdentity: "No permissions are required to perform this
  operation. If an administrator attaches a policy to your identity that
  explicitly denies access to the sts:GetCallerIdentity action, you can still
  perform this operation").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tools.rehearsal.iam_conditions import condition_holds

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicit deny", "implicit deny"
ALWAYS_ALLOWED = frozenset({"sts:getcalleridentity"})


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

    arn: str
    account: str
    role_arn: str = ""  # for an assumed-role session: arn:aws:iam::<account>:role/<name>
    service: str = ""  # for a service principal: lambda.amazonaws.com


@dataclass
class Request:
    """One authorisation question: an action on resources, with its condition context."""

    action: str
    resources: Sequence[str]
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


def _element_matches(statement: Mapping, element: str, value: str, ignore_case: bool) -> bool | None:
    """``Action``/``Resource`` (or their ``Not`` forms) against ``value``; None when the statement has neither."""
    for key, wanted in ((element, True), (f"Not{element}", False)):
        if key in statement:
            hit = any(_wildcard(p, value, ignore_case) for p in _as_list(statement[key]))
            return hit is wanted
    return None


def _statement_applies(statement: Mapping, request: Request, resource: str, principal: Principal | None) -> bool:
    if not _element_matches(statement, "Action", request.action, True):
        return False
    resource_matches = _element_matches(statement, "Resource", resource, False)
    if resource_matches is False or (resource_matches is None and principal is None):
        return False  # an identity policy's statement needs a Resource or NotResource
    if principal is not None and not principal_matches(statement, principal):
        return False
    return condition_holds(statement.get("Condition", {}), request.context)


def principal_matches(statement: Mapping, principal: Principal) -> bool:
    """Whether a resource policy statement's ``Principal`` names the caller (``NotPrincipal`` is refused)."""
    if "NotPrincipal" in statement:
        raise ValueError("NotPrincipal is not implemented by the rehearsal world's evaluator")
    named = statement.get("Principal")
    if named == "*":
        return True
    if not isinstance(named, Mapping):
        return False
    if principal.service:
        return principal.service in _as_list(named.get("Service"))
    for entry in _as_list(named.get("AWS")):
        if entry in ("*", principal.account, f"arn:aws:iam::{principal.account}:root"):
            return True
        if entry in (principal.arn, principal.role_arn):
            return True
    return False


def names_caller_itself(trust: Mapping, principal: Principal) -> bool:
    """Whether an allowing trust statement names the caller's role or session (not just its account)."""
    for statement in _as_list(trust.get("Statement")):
        named = statement.get("Principal")
        if statement.get("Effect") == "Allow" and isinstance(named, Mapping):
            if {principal.arn, principal.role_arn} & set(_as_list(named.get("AWS"))) - {""}:
                return True
    return False


def evaluate(policies: Sequence[Mapping], request: Request, principal: Principal | None = None) -> str:
    """``allowed``, ``explicit deny`` or ``implicit deny`` for ``request`` under ``policies``.

    ``principal`` is given for resource-based policies (a role's trust policy),
    whose statements must name the caller. Every resource must be allowed.
    """
    if request.action.lower() in ALWAYS_ALLOWED:
        return ALLOW
    statements = [s for p in policies for s in _as_list(p.get("Statement"))]
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
