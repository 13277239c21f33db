"""``deploy.py --preflight``: the operator's pre-flight, a PASS/FAIL row per check, changing nothing.

The AWS identity (step 2), the token (step 6) and whether Postmark accepts it (a
read-only ``GET /domains``). Every row is tried whatever the others said, except
that Postmark cannot be asked without a token.
"""

from __future__ import annotations

from tools.lib.deploy.context import Ctx
from tools.lib.deploy.guards import check_account
from tools.lib.deploy.postmark import resolve_token
from tools.lib.errors import ArdaMailError


def preflight(ctx: Ctx) -> bool:
    """The pre-flight table (printed, and in the JSON document); True when every row passed."""
    rows: list[tuple[str, str, str]] = []
    token = None
    try:
        identity = check_account(ctx)
        rows.append(("AWS identity", "PASS", f"account {identity['Account']} ({identity.get('Arn')})"))
    except ArdaMailError as exc:
        rows.append(("AWS identity", "FAIL", str(exc)))
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
    ctx.out.document["checks"] = [{"check": c, "status": s, "detail": d} for c, s, d in rows]
    return all(status == "PASS" for _, status, _ in rows)
