"""``deploy.py --preflight``: the operator's pre-flight, a PASS/FAIL row per check, changing nothing.

The AWS identity (step 2), the caller's IAM permissions for each mode (IAM's
policy simulator, ``iam:SimulatePrincipalPolicy``, against docs/permissions.md's
actions), the token (step 6) and whether Postmark accepts it (a read-only
``GET /domains``). Every row is tried whatever the others said, except that
Postmark cannot be asked without a token and permissions without an identity.
A permission check that cannot answer (no simulator access, the root user) is a
failed row: the pre-flight never passes on a question it could not ask.
"""

from __future__ import annotations

from templates import permissions
from tools.lib.aws.account import check_endpoints
from tools.lib.aws.errors import AwsError
from tools.lib.deploy.context import Ctx
from tools.lib.deploy.guards import check_account
from tools.lib.deploy.postmark import resolve_token
from tools.lib.errors import ArdaMailError

DOCS = "docs/permissions.md"
MAX_SIMULATOR_PAGES = 20
DENIED = ("AccessDenied", "AccessDeniedException")


def simulated_principal(ctx: Ctx, arn: str) -> str | None:
    """The IAM principal the simulator takes for a caller ARN, or None for root.

    An assumed-role session's ARN names its role without the role's path
    (``assumed-role/<name>/<session>``, "IAM identifiers"), and IAM Identity Center's roles
    live under ``aws-reserved/sso.amazonaws.com/``: the role's full ARN is asked of IAM
    (``iam:GetRole`` on the caller's own role, statement CheckOwnPermissions).
    """
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return None
    resource = parts[5]
    if parts[2] == "sts" and resource.startswith("assumed-role/"):
        role = ctx.aws.call("iam", "get_role", what="(the caller's own role)", RoleName=resource.split("/")[1])
        return role["Role"]["Arn"]
    if parts[2] == "iam" and resource.startswith(("user/", "role/")):
        return arn
    return None


def _refusals(ctx: Ctx, source: str) -> list[tuple[tuple[str, ...], str]]:
    """(modes, action) of each statement's action IAM would refuse ``source`` on the statement's resources.

    Asked statement by statement: one action may be granted on several resources for different
    modes (``iam:GetRole`` on the caller's own role for every mode, on the stack's roles for a
    deploy), and only the statements of a mode decide that mode's row.
    """
    infra, stack = ctx.target.config.infrastructure, ctx.target.stack
    refused: list[tuple[tuple[str, ...], str]] = []
    for modes, actions, resources, context in permissions.simulation_requests(
        infra.account_id, infra.region, infra.name, stack, source
    ):
        entries = [{"ContextKeyName": k, "ContextKeyValues": v, "ContextKeyType": "string"} for k, v in context.items()]
        kwargs = {"PolicySourceArn": source, "ActionNames": list(actions), "ResourceArns": list(resources)}
        if entries:
            kwargs["ContextEntries"] = entries
        answered = {
            result["EvalActionName"]: result.get("EvalDecision", "")
            for page in ctx.aws.pages("iam", "simulate_principal_policy", max_pages=MAX_SIMULATOR_PAGES, **kwargs)
            for result in page.get("EvaluationResults", [])
        }
        # An action the simulator did not answer for is not known to be allowed: refused.
        refused += [(modes, action) for action in actions if answered.get(action) != "allowed"]
    return refused


def permission_rows(ctx: Ctx, identity: dict) -> list[tuple[str, str, str]]:
    """A row per mode: does the caller hold every action docs/permissions.md lists for it?"""
    infra, stack = ctx.target.config.infrastructure, ctx.target.stack
    check_endpoints(ctx.aws.endpoints(("sts", "iam")), infra.region, f"{stack}: refusing to check the permissions")
    caller = identity.get("Arn", "")
    source = caller
    try:
        source = simulated_principal(ctx, caller)
        if source is None:
            detail = f"{caller} cannot be simulated (the root user?): deploy with a role holding {DOCS}"
            return [("IAM permissions", "FAIL", detail)]
        refused = _refusals(ctx, source)
    except ArdaMailError as exc:
        if isinstance(exc, AwsError) and exc.code in DENIED:
            action = exc.operation
            detail = (
                f"{source} may not call iam:{action} on itself, so its permissions were NOT checked: "
                f"grant it (statement CheckOwnPermissions) or compare its policy with {DOCS} by hand"
            )
            return [("IAM permissions", "FAIL", detail)]
        return [("IAM permissions", "FAIL", str(exc))]
    rows = []
    for mode in permissions.MODES:
        needed = permissions.operator_actions(infra.account_id, infra.region, infra.name, mode)
        missing = sorted({action for modes, action in refused if mode in modes})
        if missing:
            rows.append((f"IAM: {mode}", "FAIL", f"{source} lacks {', '.join(missing)} (see {DOCS})"))
        else:
            rows.append((f"IAM: {mode}", "PASS", f"all {len(needed)} actions of {DOCS} allowed"))
    return rows


def preflight(ctx: Ctx) -> list[dict[str, str]]:
    """The pre-flight table, printed; its rows (``check``, ``status``, ``detail``) for the JSON document."""
    rows: list[tuple[str, str, str]] = []
    token = identity = None
    try:
        identity = check_account(ctx)
        rows.append(("AWS identity", "PASS", f"account {identity['Account']} ({identity.get('Arn')})"))
    except ArdaMailError as exc:
        rows.append(("AWS identity", "FAIL", str(exc)))
    if identity is None:
        rows.append(("IAM permissions", "SKIP", "no identity to check"))
    else:
        try:
            rows += permission_rows(ctx, identity)
        except ArdaMailError as exc:
            rows.append(("IAM permissions", "FAIL", str(exc)))
    try:
        token = resolve_token(ctx)
        rows.append(("1Password token", "PASS", f"{ctx.target.config.postmark_token_ref} resolved, non-empty"))
    except ArdaMailError as exc:
        rows.append(("1Password token", "FAIL", str(exc)))
    if token is None:
        rows.append(("Postmark token", "SKIP", "no token to try"))
    else:
        try:
            page = ctx.services.postmark_client(token).list_domains(count=1)
            rows.append(("Postmark token", "PASS", f"GET /domains accepted ({page.get('TotalCount', 0)} domain(s))"))
        except ArdaMailError as exc:
            rows.append(("Postmark token", "FAIL", str(exc)))
    ctx.out.table(f"{ctx.target.stack}: pre-flight", [("CHECK", "RESULT", "DETAIL"), *rows])
    return [{"check": c, "status": s, "detail": d} for c, s, d in rows]
