"""The deploy and the plan, each a script of named steps (numbers: ``tools.lib.deploy.steps``).

Every step is a function handed the context and what earlier steps returned; the
sequence reads top to bottom. The read-only guards (2-5) run before anything changes
(8: Postmark), side by side where they do not depend on each other; the token (6) is
resolved once the account, the committed work, the template and the stack's state
passed. From step 8 on, every change is in the journal before it is made, and the
frame unwinds it on any exit.
The reviewer's record (``Plan``) is filled here, in the mode, from what the steps
return; no step reads it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from templates.partition_email import DKIM_SLOT_NUMBERS, stack_policy
from tools.lib import threads
from tools.lib.aws.account import DEPLOY_SERVICES
from tools.lib.aws.cloudformation import exports
from tools.lib.deploy.adoption import Adoption, created_after, find_adoption, import_template, show_adoption
from tools.lib.deploy.changeset import (
    Created,
    check_change_set_account,
    clean_left_over_change_sets,
    create_change_set,
    refuse_runs_in_flight,
    this_run,
    wait_for_changes,
)
from tools.lib.deploy.context import Ahead, Ctx, ahead
from tools.lib.deploy.drift import (
    DriftCheck,
    Live,
    check_drift,
    finish_detection,
    peek_detection,
    read_records,
    repair_drift,
    start_detection,
)
from tools.lib.deploy.execute import execute
from tools.lib.deploy.guards import check_account, check_committed, committed_template, lint
from tools.lib.deploy.parameters import slot_sentences, template_parameters
from tools.lib.deploy.postmark import ADDED_BY_REGISTRATION, read_postmark, register, remember_domain_id
from tools.lib.deploy.protections import protect
from tools.lib.deploy.review import (
    change_rows,
    confirm,
    confirm_repair,
    describe_changes,
    gate_iam,
    read_deployed_token,
    show_changes,
)
from tools.lib.deploy.state import Deployed, StackState, delete_failed_stack, deployed_state, examine_stack
from tools.lib.logger import Secret
from tools.lib.plan.diff import RECORD_TYPE, Drift, drift_advice
from tools.lib.plan.report import Plan
from tools.lib.registration import Registration

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    """What the operator asked for on the command line."""

    plan: bool = False
    assume_yes: bool = False
    is_tty: bool = False
    delete_failed_stack: bool = False
    allow_iam_changes: bool = False
    overwrite_drift: bool = False
    keep_change_set: bool = False
    outside_git: bool = False
    verbose: bool = False  # every property of added and removed resources too
    resolver: str | None = None  # IP[:PORT]: who is asked whether the parent delegates a zone to adopt elsewhere


@dataclass(frozen=True)
class Prepared:
    """What steps 2-8 found: everything the change set is made of."""

    body: str
    state: StackState
    deployed: Deployed
    drift: DriftCheck
    token: Secret
    registration: Registration | None
    left_over: list[dict]  # change sets earlier runs left that no live run will execute (step 5)
    caller: str  # the AWS identity's ARN (step 2): named in the change set
    adoption: Adoption = Adoption()  # what a creation adopts of what an earlier stack retained (step 5)
    policy: str | None = None  # the stack policy as step 5 read it (none for a stack this run creates)


def prepare(ctx: Ctx, opts: Options) -> Prepared:
    """Steps 2-8: the read-only guards, then the token, cfn-lint's verdict and Postmark.

    The read-only guards that do not depend on each other run side by side, as AWS's
    latency makes worth it (each call is a round trip): steps 2-5 at once (the endpoint
    check first: it calls nothing, and a split endpoint set must refuse before any call),
    then what step 5's answer allows (the change sets in flight, what a creation adopts,
    the deployed template and drift) beside the token (6) and Postmark's read of the
    domain (the read half of 8). Each answer is taken in step order, so the first failing
    guard refuses, with its own sentence, as when they ran one after another. The token
    is resolved only once the account, the committed work, the template and the stack's
    state passed (a deploy refused for one of those never reads the secret; 1Password may
    ask the operator to unlock it), and nothing changes before step 8, whose registration
    runs after every guard and cfn-lint passed. ``ctx.side_by_side`` is how many at once
    (1: one after another, in step order).
    """
    ctx.aws.check_endpoints(ctx.target.config, "deploy", DEPLOY_SERVICES)
    _ = ctx.stack  # made once here, before the threads share it
    pool = threads.pool(ctx.side_by_side, "guard")
    try:
        identity = pool.submit(check_account, ctx)  # 2
        committed = pool.submit(check_committed, ctx, plan=opts.plan, outside_git=opts.outside_git)  # 3
        template = pool.submit(committed_template, ctx)  # 4
        examined = pool.submit(examine_stack, ctx, plan=opts.plan, delete_failed_stack=opts.delete_failed_stack)  # 5
        caller = identity.result().get("Arn", "")
        committed.result()
        body = template.result()
        state = examined.result()
        in_flight = pool.submit(refuse_runs_in_flight, ctx, state, plan=opts.plan)
        adopting = pool.submit(find_adoption, ctx, state, opts.resolver)
        found = pool.submit(deployed_state, ctx, state)
        records = pool.submit(read_records, ctx, state)
        detection = pool.submit(start_detection, ctx, state)  # beside the records: it needs only the stack
        # What protecting the stack will need to know, read now (a plan protects nothing).
        policy = pool.submit(ctx.stack.policy, state.stack_id) if state.updated and not opts.plan else None
        # 6 and the read half of 8, in a thread of its own: a refusal never waits for 1Password (which may be
        # asking the operator to unlock it), and the pool's workers are all taken by the guards above.
        postmark = ahead(ctx, read_postmark, ctx, state.stack_id)
        left_over, adoption = in_flight.result(), adopting.result()
        deployed = found.result()
        live = Live(records.result(), *detection.result())
        drift = check_drift(ctx, deployed, live, plan=opts.plan, overwrite=opts.overwrite_drift)
        known = policy.result() if policy else None  # a stack this run creates has no policy
        read = postmark()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a refusal or a signal does not wait for the others
    lint(ctx, body)  # 7
    registration = register(ctx, read, read_only=opts.plan)  # 8
    return Prepared(body, state, deployed, drift, read.token, registration, left_over, caller, adoption, known)


def submit(ctx: Ctx, ready: Prepared, opts: Options) -> tuple[Created, dict[str, str]]:
    """Step 9: the failed stack deleted if asked, stale change sets cleaned, the change set created."""
    state = delete_failed_stack(ctx, ready.state) if ready.state.recreate else ready.state
    parameters = template_parameters(ready.token, ready.registration, state.dkim_selectors(), ctx.target.stack)
    for sentence in slot_sentences(ready.registration, parameters, ctx.target.stack):
        ctx.out.progress(sentence)
    # A plan deletes nothing but its own change set; a failed stack deleted above took its change sets along.
    if not opts.plan and not ready.state.recreate:
        clean_left_over_change_sets(ctx, ready.left_over, keep=opts.keep_change_set)
    ctx.out.progress(f"{ctx.target.stack}: creating {'an' if state.kind == 'UPDATE' else 'a'} {state.kind} change set")
    owner = this_run(ready.caller, purpose(opts))
    return create_change_set(ctx, ready.body, parameters, state, owner), parameters


def update_parameters(ctx: Ctx, ready: Prepared) -> dict[str, str]:
    """The parameters the update after an adoption's import will have (every DKIM slot free before it)."""
    free = [""] * len(DKIM_SLOT_NUMBERS)
    return template_parameters(ready.token, ready.registration, free, ctx.target.stack)


def submit_import(ctx: Ctx, ready: Prepared, opts: Options) -> Created:
    """Step 9 of an adoption: stale change sets cleaned, the IMPORT change set created (the adopted resources only)."""
    state = delete_failed_stack(ctx, ready.state) if ready.state.recreate else ready.state
    if not opts.plan and not ready.state.recreate:
        clean_left_over_change_sets(ctx, ready.left_over, keep=opts.keep_change_set)
    ctx.out.progress(f"{ctx.target.stack}: creating an IMPORT change set: adopting {ready.adoption.describe()}")
    body = import_template(ready.body, ready.adoption, ctx.target.stack)
    owner = this_run(ready.caller, purpose(opts))
    return create_change_set(ctx, body, {}, state, owner, imports=ready.adoption.resources_to_import())


def adopt(ctx: Ctx, ready: Prepared, opts: Options, record: Plan) -> tuple[Prepared, Created]:
    """Steps 9-11 of an adoption's import: shown, confirmed, executed, followed, protected; then what steps 5-8
    find of the stack it made, for the update that brings the rest back (the same run, nothing asked again).

    Until that update has run, the run's last line says the rest of the stack is not back and how to bring it.
    """
    created = submit_import(ctx, ready, opts)  # 9
    record.change_set = created.change_set.id
    changes = wait_for_changes(ctx, created) or []  # 10
    added = created_after(ready.body, ready.adoption, update_parameters(ctx, ready), ctx.target.stack)
    show_adoption(ctx, ready.adoption, changes, added)
    record.adoption = ready.adoption.to_dict() | {
        "import_change_set": created.change_set.id,
        "created_after": added,
        "imported": False,
    }
    confirm(ctx, created, assume_yes=opts.assume_yes, is_tty=opts.is_tty)  # 11
    check_change_set_account(ctx, created.change_set)
    execute(ctx, created, ready.policy)  # protected at once: the policy is set from now on
    record.adoption["imported"] = True
    created.entry.done = (
        f"adopted {ready.adoption.describe()} (IMPORT_COMPLETE); the rest of the stack is not back yet: run "
        f"{ctx.target.rerun} --yes"
    )
    state = examine_stack(ctx, plan=False, delete_failed_stack=False)
    deployed = deployed_state(ctx, state)
    protected = json.dumps(stack_policy())  # what protect() just made sure of
    adopted = Prepared(
        ready.body, state, deployed, DriftCheck(), ready.token, ready.registration, [], ready.caller, policy=protected
    )
    return adopted, created


def purpose(opts: Options) -> str:
    """What this run will do with its change set: show it (plan), maybe execute it (deploy), or leave it (review)."""
    if opts.plan:
        return "plan"
    return "deploy" if opts.assume_yes or opts.is_tty else "review"


def plan(ctx: Ctx, opts: Options, record: Plan) -> str:
    """Steps 2-10, read-only at Postmark; the change set is shown, then deleted. The outcome.

    ``record`` is the reviewer's record the command prints (``--json``, ``--summary-file``):
    this function fills it from what each step returns, as it goes (a stopped run shows what
    it found); no step reads it.
    """
    ready = prepare(ctx, opts)
    record.drift = list(ready.drift.records)
    if ready.registration is None:
        record.after_registration = list(ADDED_BY_REGISTRATION)
    if ready.adoption:
        return plan_adoption(ctx, ready, opts, record)
    with Ahead(ctx) as ahead_:
        return _plan_change_set(ctx, ready, opts, record, ahead_)


def _plan_change_set(ctx: Ctx, ready: Prepared, opts: Options, record: Plan, ahead_: Ahead) -> str:
    """A plan's steps 9-11: the change set made, reviewed and deleted (``plan``)."""
    detected = ahead_(peek_detection, ctx, ready.drift)  # drift's verdict, read while the change set is made
    created, parameters = submit(ctx, ready, opts)  # 9
    record.change_set = created.change_set.id
    current = ahead_(read_deployed_token, ctx, ready.deployed)  # what the review compares the token with
    changes = wait_for_changes(ctx, created)  # 10
    if changes is None:
        record.change_set = ""
        verdict = finish_detection(ctx, ready.drift, plan=True, overwrite=False, detected=detected())
        record.drift, record.drift_note = record.drift + verdict.rows, verdict.note
        if record.drift:
            ctx.out.result(f"{ctx.target.stack}: no template changes, but the live stack has drifted")
        else:
            ctx.out.result(f"{ctx.target.stack}: no changes; the stack already matches the committed template")
        say_what_a_deploy_would_do(ctx, record.drift)
        return "no-changes"
    show_changes(ctx, changes)
    record.changes = change_rows(changes)
    review = describe_changes(
        ctx, changes, ready.body, parameters, ready.deployed, ready.token, verbose=opts.verbose, deployed_token=current
    )
    record.parameters, record.properties, record.iam = review.parameters, review.properties, review.iam
    verdict = finish_detection(ctx, ready.drift, plan=True, overwrite=False, detected=detected())
    record.drift, record.drift_note = record.drift + verdict.rows, verdict.note
    ctx.journal.undo(created.entry)
    ctx.out.result(f"{ctx.target.stack}: plan only; change set deleted, nothing executed")
    say_what_a_deploy_would_do(ctx, record.drift)
    return "planned"


def plan_adoption(ctx: Ctx, ready: Prepared, opts: Options, record: Plan) -> str:
    """A plan of an adoption: the IMPORT change set CloudFormation accepts (shown, then deleted), and what the
    update after it adds. The update's own change set cannot be made before the import ran."""
    created = submit_import(ctx, ready, opts)  # 9
    record.change_set = created.change_set.id
    changes = wait_for_changes(ctx, created) or []  # 10
    record.changes = change_rows(changes)
    added = created_after(ready.body, ready.adoption, update_parameters(ctx, ready), ctx.target.stack)
    show_adoption(ctx, ready.adoption, changes, added)
    record.adoption = ready.adoption.to_dict() | {"import_change_set": created.change_set.id, "created_after": added}
    ctx.journal.undo(created.entry)
    ctx.out.result(
        f"{ctx.target.stack}: plan only; IMPORT change set deleted, nothing executed; a deploy adopts "
        f"{ready.adoption.describe()}, then adds {len(added)} resource(s) with an update"
    )
    return "planned"


def say_what_a_deploy_would_do(ctx: Ctx, drift: list[Drift]) -> None:
    """After a plan that found drift: the deploy of this plan would be refused, and what would get it through."""
    if not drift:
        return
    target = ctx.target
    by_hand = [d.resource for d in drift if d.resource_type != RECORD_TYPE]
    way = drift_advice(by_hand, stack=target.stack, region=target.region, command=target.rerun)
    ctx.out.result(f"{target.stack}: a deploy now would be refused (exit 3) because of the drift above; {way}")


def deploy(ctx: Ctx, opts: Options, record: Plan) -> str:
    """Steps 2-11: guards, token, lint, Postmark, change set, review, execute. The outcome (``record``: see plan).

    An adoption runs 9-11 twice: the import of what was retained, then the update that brings the rest back.
    """
    ready = prepare(ctx, opts)
    record.drift = list(ready.drift.records)
    imported, adopted = None, ""
    if ready.adoption:
        adopted = ready.adoption.describe()
        ready, imported = adopt(ctx, ready, opts, record)
    with Ahead(ctx) as ahead_:
        return _deploy_change_set(ctx, ready, opts, record, ahead_, imported=imported, adopted=adopted)


def _deploy_change_set(
    ctx: Ctx, ready: Prepared, opts: Options, record: Plan, ahead_: Ahead, *, imported: Created | None, adopted: str
) -> str:
    """A deploy's steps 9-11: the change set made, reviewed and executed (``deploy``); ``imported``: the import
    an adoption ran first (``adopted`` says what it adopted)."""
    # Read while CloudFormation makes the change set: drift's verdict (its one look asked beside the request that
    # makes the change set, the resource drifts once it says the detection finished), where the stack's events
    # stand (what follows is the execution's: nothing adds an event to a stack between its change set and
    # execute), and the deployed token secret, which the review compares the new token with.
    detected = ahead_(peek_detection, ctx, ready.drift)
    created, parameters = submit(ctx, ready, opts)  # 9
    record.change_set = created.change_set.id
    since = ahead_(ctx.stack.newest_event_id, created.change_set.stack_id)
    current = ahead_(read_deployed_token, ctx, ready.deployed)
    remember_domain_id(ctx, created.change_set.stack_id, ready.registration)  # the next deploy asks Postmark by ID
    changes = wait_for_changes(ctx, created)  # 10
    if changes is None:
        record.change_set = ""
        ctx.out.result(f"{ctx.target.stack}: no changes; the stack already matches the committed template")
        verdict = finish_detection(ctx, ready.drift, plan=False, overwrite=opts.overwrite_drift, detected=detected())
        record.drift, record.drift_note = record.drift + verdict.rows, verdict.note
        if opts.overwrite_drift and record.drift:
            confirm_repair(ctx, record.drift, assume_yes=opts.assume_yes, is_tty=opts.is_tty)
            repair_drift(ctx, ready.deployed, record.drift)
        if ready.state.updated:
            protect(ctx, ready.state.updated, ready.policy)
        return "no-changes"  # never after an adoption: its update adds the rest of the stack
    show_changes(ctx, changes)
    record.changes = change_rows(changes)
    review = describe_changes(
        ctx, changes, ready.body, parameters, ready.deployed, ready.token, verbose=opts.verbose, deployed_token=current
    )
    record.parameters, record.properties, record.iam = review.parameters, review.properties, review.iam
    verdict = finish_detection(ctx, ready.drift, plan=False, overwrite=opts.overwrite_drift, detected=detected())
    record.drift, record.drift_note = record.drift + verdict.rows, verdict.note
    gate_iam(ctx, ready.deployed, review.iam, is_tty=opts.is_tty, allow=opts.allow_iam_changes)  # 11
    confirm(ctx, created, assume_yes=opts.assume_yes, is_tty=opts.is_tty)
    check_change_set_account(ctx, created.change_set)
    if opts.overwrite_drift and record.drift:
        repair_drift(ctx, ready.deployed, record.drift)
    settled = execute(ctx, created, ready.policy, since())
    record.exports = dict(exports(settled))
    if imported is not None:
        imported.entry.done = f"adopted {adopted} (IMPORT_COMPLETE)"
    return "deployed"
