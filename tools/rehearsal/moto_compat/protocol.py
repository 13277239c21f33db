"""The AWS wire protocols as the patches read them: plain functions over a request's data (no moto)."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import unquote, unquote_plus
from xml.sax.saxutils import escape


def members(query: dict, prefix: str, field: str = "") -> list[str]:
    """A query-protocol list (``Prefix.member.N[.Field]``) in N's order; ``field`` names a structure's member."""
    found = []
    for key, value in query.items():
        if not key.startswith(f"{prefix}.member."):
            continue
        number, _, rest = key[len(prefix) + len(".member.") :].partition(".")
        if number.isdigit() and rest == field:
            found.append((int(number), value[0] if isinstance(value, list) else value))
    return [value for _, value in sorted(found)]


# Route 53's REST operations: (method, path after the API version, operation, resource type of the ARN).
ROUTE53_OPERATIONS = (
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
)


def route53_operation(method: str, path: str) -> tuple[str, str | None, str | None]:
    """(operation, resource type, resource ID) of a Route 53 REST request; ("", None, None) when unknown."""
    path = re.sub(r"^/\d{4}-\d{2}-\d{2}", "", unquote(path.split("?", 1)[0]))
    for verb, pattern, operation, kind in ROUTE53_OPERATIONS:
        match = re.fullmatch(pattern, path)
        if verb == method and match:
            return operation, kind, match.group(1).split("/")[-1] if kind else None
    return "", None, None


def action_of(environ: dict) -> str:
    """The API action of a WSGI request: X-Amz-Target (JSON protocols), Action= (query protocol), or
    Route 53's REST operation.

    Reading the body puts it back (``wsgi.input`` becomes a fresh stream), so the server still reads it. The
    answer is kept in the environ: each patch that asks (holds, lost answers, latency, IAM) gets it without
    reading the body again, and only ``Action=`` is decoded (a change set's body carries its whole template).
    """
    if _ACTION not in environ:
        environ[_ACTION] = _action_of(environ)
    return environ[_ACTION]


_ACTION = "arda.rehearsal.action"
_QUERY_ACTION = r"(?:^|&)Action=([^&]*)"  # the query protocol's Action parameter, still encoded


def _action_of(environ: dict) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    route53, _, _ = route53_operation(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
    if route53 and environ.get("PATH_INFO", "").startswith("/2013-04-01/"):
        return route53
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    action = re.search(_QUERY_ACTION, body.decode("utf-8", "replace") if body else environ.get("QUERY_STRING", ""))
    return unquote_plus(action.group(1)) if action else ""


# -- IAM (patch 14) ------------------------------------------------------------------------------------

JSON_SERVICES = ("secretsmanager", "lambda", "logs")  # services answering errors as JSON, not XML
ROUTE53_NAMESPACE = "https://route53.amazonaws.com/doc/2013-04-01/"


def service_of(authorization: str) -> str:
    """The service a SigV4 ``Authorization`` header signs for (``Credential=AKID/date/region/service/...``)."""
    return (authorization.split("/")[3:4] or [""])[0]


def access_denied(service: str, message: str) -> tuple[int, str]:
    """The refusal a service answers a request IAM denies: (HTTP status, body) in its protocol."""
    if service in JSON_SERVICES:
        return 400, json.dumps({"__type": "AccessDeniedException", "Message": message})
    namespace = f' xmlns="{ROUTE53_NAMESPACE}"' if service == "route53" else ""
    return 403, (
        f"<ErrorResponse{namespace}><Error><Type>Sender</Type><Code>AccessDenied</Code>"
        f"<Message>{escape(message)}</Message></Error><RequestId>rehearsal</RequestId></ErrorResponse>"
    )


def simulation_request(query: dict) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """``SimulatePrincipalPolicy``'s (action names, resource ARNs or ``["*"]``, context key to values)."""
    names = members(query, "ContextEntries", field="ContextKeyName")
    context = {name: members(query, f"ContextEntries.member.{n}.ContextKeyValues") for n, name in enumerate(names, 1)}
    return members(query, "ActionNames"), members(query, "ResourceArns") or ["*"], context


def simulation_answer(results: list[tuple[str, str]], resources: list[str]) -> dict:
    """``SimulatePrincipalPolicy``'s answer for (action, decision) pairs."""
    evaluated = [{"EvalActionName": a, "EvalResourceName": resources[0], "EvalDecision": d} for a, d in results]
    return {"EvaluationResults": evaluated, "IsTruncated": False}


def is_policy_variable(resource: str) -> bool:
    """Whether a policy's Resource is one policy variable (``${aws:PrincipalArn}``): valid IAM, no ARN."""
    return resource.startswith("${") and resource.endswith("}")


def without_policy_variables(resource: str | list) -> list:
    """A statement's Resource entries, less those starting with a policy variable (nothing to parse as an ARN)."""
    return [r for r in ([resource] if isinstance(resource, str) else resource) if not str(r).startswith("${")]
