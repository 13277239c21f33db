"""Deploy one partition's mail stack: the operator's command.

    python deploy.py <infrastructure> <partition> [--yes] [--plan | --dry-run | --preflight | --destroy]

The steps, numbered once (``tools/lib/deploy/steps.py``; ``--dry-run`` and the
docs/deploy.md use the same numbers): 1 config, 2 account, 3 committed, 4 template,
5 stack, 6 token, 7 lint, 8 postmark, 9 change-set, 10 review, 11 execute. Every
read-only guard runs before the first change; the account, the committed work,
the template and the stack's state are checked before the token is resolved; every
change from step 8 on is in the run's journal, which is unwound on any exit.

This file parses the arguments, builds the clients and calls one mode of
``tools.lib.deploy``; the frame (``tools.lib.frame``) does errors, signals and output.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from instances.registry import load_registry
from tools.lib import frame
from tools.lib.aws.clients import Aws
from tools.lib.cfn_lint import Linter, LintJob
from tools.lib.clock import REAL, Clock
from tools.lib.delegation import parse_resolver
from tools.lib.deploy.context import Checkout, Ctx, Services, Target
from tools.lib.deploy.destroy import DestroyOptions, destroy
from tools.lib.deploy.dry_run import dry_run
from tools.lib.deploy.modes import Options, deploy, plan
from tools.lib.deploy.preflight import preflight
from tools.lib.errors import ArdaMailError, UsageError
from tools.lib.exits import Exit
from tools.lib.logger import on_github_actions
from tools.lib.output import append_file, file_destination_problem, kernel_filesystem_problem, write_file
from tools.lib.plan.report import Plan, markdown
from tools.lib.postmark_client import BASE_URL_ENV, DEFAULT_BASE_URL, PostmarkClient
from tools.lib.prompt import can_ask
from tools.lib.targets import target_of

# The longest --timeout: a day (CloudFormation's own limit for a stack operation is far shorter in practice).
MAX_TIMEOUT_MINUTES = 1440

COMMAND = frame.Command(
    name="deploy",
    prog="deploy.py",
    description="Lint, register with Postmark, and deploy one partition's mail stack by change set.",
    exits={
        Exit.OK: "deployed, no changes, plan shown, taken down, or every pre-flight check passed",
        Exit.FAILED: "a step failed (AWS, 1Password, Postmark, the change set or the stack update)",
        Exit.REFUSED: "refused: wrong AWS account, uncommitted or stale template inputs, cfn-lint errors, drift "
        "(or an incomplete drift detection), a zone of the domain already there on a first creation, exports "
        "still imported on --destroy, IAM widening not accepted, or a stack state that needs the operator "
        "(e.g. ROLLBACK_COMPLETE)",
        Exit.NOT_DONE: "change set created but not executed (no terminal and no --yes, or answered no); "
        "--destroy not confirmed",
    },
    aws=True,
    environment={
        BASE_URL_ENV: f"Postmark API base URL (default {DEFAULT_BASE_URL})",
        "GITHUB_ACTIONS=true": "print ::add-mask:: for the token (GitHub Actions only)",
    },
)


def add_arguments(parser) -> None:
    """deploy.py's own arguments: infrastructure and partition are positional."""
    frame.add_target(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the target and the steps; touch nothing")
    mode.add_argument("--plan", action="store_true", help="show the change set, then delete it; never execute")
    mode.add_argument(
        "--preflight",
        action="store_true",
        help="check the AWS identity, its IAM permissions per mode, the token and Postmark; change nothing",
    )
    mode.add_argument("--destroy", action="store_true", help="take the partition down (asks for the stack's name)")
    parser.add_argument(
        "--purge-retained",
        action="store_true",
        help="with --destroy: also empty and delete the retained zone and schedule the webhook secret's deletion",
    )
    parser.add_argument(
        "--resolver",
        metavar="IP[:PORT]",
        help="the DNS server asked whether the parent delegates the domain, before --purge-retained deletes a "
        "zone or a deploy adopts a retained one (default: the system's)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="stop following a stack that has not settled after this long (default 60)",
    )
    parser.add_argument(
        "--keep-change-set",
        action="store_true",
        help="keep change sets earlier runs left unexecuted (default: delete them before creating a new one)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show every property of added and removed resources too (a new stack shows its resource list)",
    )
    parser.add_argument("--yes", action="store_true", help="execute (or with --destroy: delete) without asking")
    parser.add_argument(
        "--delete-failed-stack",
        action="store_true",
        help="delete a ROLLBACK_COMPLETE stack (a failed first creation) before creating it again",
    )
    parser.add_argument(
        "--allow-iam-changes",
        action="store_true",
        help="without a terminal: accept changes that widen IAM permissions (besides --yes)",
    )
    parser.add_argument(
        "--overwrite-drift",
        action="store_true",
        help="deploy although records were changed by hand, and put them back as the deployed template says",
    )
    parser.add_argument("--summary-file", type=Path, help="write the plan as Markdown here (for pull requests)")
    parser.add_argument(
        "--deploy-outside-git",
        action="store_true",
        help="outside a git checkout only: deploy what is on disk without checking it against a reviewed commit",
    )


def check(args) -> None:
    """Arguments that only make sense together."""
    if args.purge_retained and not args.destroy:
        raise UsageError("--purge-retained goes with --destroy")
    if not 0 < args.timeout <= MAX_TIMEOUT_MINUTES:  # also refuses inf and nan
        raise UsageError(
            f"--timeout must be a number of minutes above 0 and at most {MAX_TIMEOUT_MINUTES}, got: {args.timeout:g}"
        )
    if args.resolver is not None:
        if (args.destroy and not args.purge_retained) or args.dry_run or args.preflight:
            raise UsageError("--resolver goes with a deploy, --plan, or --destroy --purge-retained")
        parse_resolver(args.resolver)
    if args.summary_file is not None:
        problem = kernel_filesystem_problem(args.summary_file) or file_destination_problem(args.summary_file)
        if problem:
            raise UsageError(
                f"--summary-file must be a file in an existing folder this user can write, got: "
                f"{str(args.summary_file)!r} ({problem})"
            )


def main(argv: list[str] | None = None, *, checkout: Checkout | None = None, clock: Clock = REAL, services=None) -> int:
    """Entry point; ``checkout``, ``clock`` and ``services`` are the seams tests use (defaults: the real ones)."""

    def body(run: frame.Run) -> int:
        return run_deploy(run, checkout or Checkout(), clock, services)

    return frame.run(COMMAND, add_arguments, body, argv, check=check)


def run_deploy(run: frame.Run, checkout: Checkout, clock: Clock, services: Services | None) -> int:
    """Build the target and the clients, run the one mode asked for."""
    args = run.args
    target = Target(load_registry(checkout.root / "instances").lookup(args.infrastructure, args.partition))
    run.where = target.stack
    run.out.document["target"] = target_of(target.config)  # every mode's document, also a stopped run's
    if args.region and args.region != target.region:
        raise UsageError(
            f"--region must be the instance config's region {target.region!r} for {target.stack}, got: {args.region!r}"
        )
    if args.dry_run:
        run.out.document.update(steps=dry_run(target, checkout, run.out), outcome="dry-run")
        return Exit.OK
    linter = Linter(target.region, None if args.preflight or args.destroy else start_lint(target, checkout))
    run.resources.callback(linter.cancel)
    run.out.progress(target.describe())
    aws = Aws.open(args.profile, target.region, target.stack)
    ctx = Ctx(
        target,
        aws,
        run.out,
        run.journal,
        services=services or Services(lint=linter.verdict, postmark=PostmarkClient.on(clock)),
        checkout=checkout,
        clock=clock,
        follow_timeout_seconds=args.timeout * 60,
    )
    started = clock.monotonic()
    record = Plan(target=target_of(target.config))  # the reviewer's record: filled by the mode, printed here once
    try:
        if args.preflight:
            checks = preflight(ctx)
            passed = all(c["status"] == "PASS" for c in checks)  # a row skipped is not a pass
            run.out.document.update(checks=checks, outcome="passed" if passed else "failed")
            if not passed:
                failed = [c["check"] for c in checks if c["status"] == "FAIL"]
                raise ArdaMailError(
                    f"{len(failed)} pre-flight check(s) failed: {', '.join(failed)}; each row above says why"
                )
            return Exit.OK
        if args.destroy:
            opts = DestroyOptions(
                assume_yes=args.yes, is_tty=can_ask(), purge_retained=args.purge_retained, resolver=args.resolver
            )
            teardown = destroy(ctx, opts)
            run.out.document.update(outcome=teardown.outcome, **teardown.to_dict())
            return Exit.OK
        opts = Options(
            plan=args.plan,
            assume_yes=args.yes,
            is_tty=can_ask(),
            delete_failed_stack=args.delete_failed_stack,
            allow_iam_changes=args.allow_iam_changes,
            overwrite_drift=args.overwrite_drift,
            keep_change_set=args.keep_change_set,
            verbose=args.verbose,
            outside_git=args.deploy_outside_git,
            resolver=args.resolver,
        )
        # After the journal is unwound (the frame closes run.resources then): did this run execute its change set?
        run.resources.callback(lambda: run.out.document.update(executed=execution(ctx, record)))
        try:
            run.out.document["outcome"] = (plan if args.plan else deploy)(ctx, opts, record)
        except BaseException:
            report(run, ctx, record, args.summary_file, required=False)  # what the reviewer sees of a stopped run
            raise
        report(run, ctx, record, args.summary_file, required=args.plan)
        return Exit.OK
    finally:
        run.out.progress(f"{target.stack}: finished in {clock.monotonic() - started:.1f}s, {aws.calls} AWS call(s)")


def execution(ctx: Ctx, record: Plan) -> bool | None:
    """Whether this run executed the change set it created: True, False, or None when AWS could not say."""
    made = record.change_set
    entry = next((e for e in ctx.journal.entries if made and e.what == f"change set {made}"), None)
    if entry is None:
        return False
    return {"settled": True, "unsure": None}.get(entry.state, False)


def start_lint(target: Target, checkout: Checkout) -> LintJob | None:
    """cfn-lint of the committed bytes, begun before any network step so it runs on the other core (step 7 reads it).

    None when the file cannot be read: step 4 then says why.
    """
    try:
        body = checkout.template_path(target.config).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return LintJob(body, target.region)


def report(run: frame.Run, ctx: Ctx, record: Plan, path: Path | None, *, required: bool) -> None:
    """The plan into the JSON document, and as Markdown to --summary-file and the GitHub Actions step summary.

    The destination was checked before anything changed (``check``); what can still
    fail here (a full disk) fails a ``--plan`` (``required``: the summary is what it is
    for), and is one error line otherwise: a deploy's outcome, or the first failure of
    a stopped run, stays the one its exit code reports.
    """
    run.out.document.update(record.to_dict())
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY") if on_github_actions() else None
    if path is None and not step_summary:
        return
    text = markdown(record)
    for destination, write in ((path, write_file), (Path(step_summary) if step_summary else None, append_file)):
        if destination is None:
            continue
        try:
            write(destination, text)
        except OSError as exc:
            problem = f"cannot write the plan summary to {destination} ({exc.strerror or exc})"
            if required and destination == path:
                raise ArdaMailError(
                    f"{ctx.target.stack}: {problem}; the plan is shown above; rerun --plan once it can be written"
                ) from None
            run.out.warning(f"{ctx.target.stack}: {problem}; the run's outcome stands")


if __name__ == "__main__":
    sys.exit(main())
