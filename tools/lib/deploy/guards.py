"""Steps 2-4: the read-only guards that run before anything is resolved or changed.

Each is handed the context and either returns what it found or raises ``Refused``
(exit 3) with one sentence that says what to do.
"""

from __future__ import annotations

import logging

from tools.lib.aws.account import DEPLOY_SERVICES
from tools.lib.deploy.context import Ctx
from tools.lib.errors import Refused
from tools.lib.git_guard import GitUnanswered

LOG = logging.getLogger(__name__)
# CloudFormation's limit for a template passed inline (TemplateBody); larger ones need S3.
MAX_TEMPLATE_BODY_BYTES = 51_200


def check_account(ctx: Ctx) -> dict:
    """Step 2: one endpoint set for every service the deploy uses, and credentials of the configured account.

    Runs before the token is resolved and before anything is written anywhere; the caller's identity.
    """
    return ctx.aws.check_account(ctx.target.config, "deploy", DEPLOY_SERVICES)


def check_committed(ctx: Ctx, *, plan: bool, outside_git: bool = False) -> list[str]:
    """Step 3: refuse anything under templates/ and instances/ (or imported from there) that is not HEAD's bytes.

    A plan only says so. When git cannot answer, a deploy refuses, unless the
    checkout is not a git work tree at all and the operator said --deploy-outside-git.
    The problems found.
    """
    stack = ctx.target.stack
    try:
        problems = ctx.services.unreviewed(ctx.checkout.root)
    except GitUnanswered as exc:
        if plan:
            ctx.out.result(f"{stack}: plan of work git cannot vouch for ({exc}): not deployable as it stands")
            return []
        if exc.outside and outside_git:
            ctx.out.warning(
                f"{stack}: --deploy-outside-git: deploying what is on disk, UNCHECKED against any review ({exc})"
            )
            return []
        advice = (
            "deploy from a git checkout of the reviewed commit, or pass --deploy-outside-git to deploy what is on "
            "disk unchecked"
            if exc.outside
            else "fix the checkout until 'git status' works here, then rerun"
        )
        raise Refused(
            f"{stack}: refusing to deploy: cannot check that the template and its inputs are committed as reviewed "
            f"({exc}); {advice}"
        ) from None
    if problems and plan:
        ctx.out.result(f"{stack}: plan of uncommitted work (not deployable until committed): {', '.join(problems)}")
    elif problems:
        raise Refused(
            f"{stack}: refusing to deploy: not committed as reviewed: {', '.join(problems)}; "
            "commit them (through review) or remove them, then rerun"
        )
    return problems


def committed_template(ctx: Ctx) -> str:
    """Step 4: the committed YAML, refused if the code renders something else or it is too big to send inline."""
    target, config = ctx.target, ctx.target.config
    path = ctx.checkout.template_path(config)
    partition = config.partition.value
    if not path.is_file():
        raise Refused(
            f"{target.stack}: {path.name} is not committed; run: python generate.py {partition}, review and commit it"
        )
    committed = path.read_text(encoding="utf-8")
    if committed != ctx.services.render(config, ctx.services.handler_source()):
        raise Refused(
            f"{target.stack}: templates/{path.name} differs from what the code renders; "
            f"run: python generate.py {partition}, review and commit it"
        )
    size = len(committed.encode("utf-8"))
    if size > MAX_TEMPLATE_BODY_BYTES:
        raise Refused(
            f"{target.stack}: templates/{path.name} is {size} bytes, over CloudFormation's "
            f"{MAX_TEMPLATE_BODY_BYTES}-byte limit for an inline template; it must shrink (or be uploaded to S3)"
        )
    return committed


def lint(ctx: Ctx, body: str) -> None:
    """Step 7: cfn-lint's verdict on the committed bytes; errors refuse the deploy, warnings are shown.

    The verdict comes from the child process the CLI started at step 4 when it linted
    these bytes, or from the cache of earlier passes (``tools.lib.lint_cache``).
    """
    verdict = ctx.services.lint(body)
    stack = ctx.target.stack
    if verdict.errors:
        shown = "; ".join(verdict.errors[:3])
        raise Refused(f"{stack}: cfn-lint found {len(verdict.errors)} error(s): {shown}")
    for warning in verdict.warnings:
        ctx.out.warning(f"{stack}: cfn-lint {warning}")
    how = " (these exact bytes passed before: cached)" if verdict.cached else ""
    ctx.out.progress(f"{stack}: cfn-lint passed ({len(verdict.warnings)} warning(s)){how}")
