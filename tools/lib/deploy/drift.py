"""Step 5 and 10: drift, found before anything changes and refused unless the operator says otherwise.

Records are compared directly (the zone's live record sets against the deployed
template). CloudFormation's own drift detection covers the other resources; on AWS
it takes seconds to minutes, so it is started at step 5 and its verdict read at
step 10, before anything executes. Drift refuses a deploy (exit 3) unless
``--overwrite-drift``, which puts the records back as the deployed template says;
a plan shows it and goes on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from templates.partition_email import O_ZONE_ID
from tools.lib.aws.cloudformation import outputs
from tools.lib.aws.errors import AwsError
from tools.lib.deploy.context import Ctx
from tools.lib.deploy.state import Deployed, StackState
from tools.lib.errors import Refused
from tools.lib.logger import redact
from tools.lib.plan.diff import RECORD_TYPE, Drift, drift_advice, record_drift
from tools.lib.plan.template import live_resources

LOG = logging.getLogger(__name__)
DETECTION_DEADLINE_SECONDS = 120.0


@dataclass(frozen=True)
class DriftCheck:
    """Record drift found at step 5, and CloudFormation's detection still running (its ID)."""

    records: list[Drift] = field(default_factory=list)
    detection: str | None = None
    unstarted: str = ""  # why CloudFormation's detection could not be started ("": it was, or no stack)
    note: str = ""  # what could not be compared, for the reviewer


@dataclass(frozen=True)
class DriftVerdict:
    """Step 10: CloudFormation's drift rows for what is not a record, and what its detection left unchecked."""

    rows: list[Drift] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Live:
    """Step 5's readings of a running stack, taken beside the other guards: the zone's record sets (None: the
    stack has no zone output) and CloudFormation's drift detection, started."""

    records: list[dict] | None = None
    detection: str | None = None
    unstarted: str = ""


def _zone_id(state: StackState) -> str | None:
    """The zone a running stack names in its outputs (None: no running stack, or no zone output)."""
    return outputs(state.updated).get(O_ZONE_ID) if state.updated is not None else None


def read_records(ctx: Ctx, state: StackState) -> list[dict] | None:
    """The zone's live record sets, from the described stack alone (its outputs name the zone), so they need not
    wait for the deployed template; None when there is no running stack with a zone output."""
    zone_id = _zone_id(state)
    if not zone_id:
        return None
    return ctx.aws.items("route53", "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone_id)


def start_detection(ctx: Ctx, state: StackState) -> tuple[str | None, str]:
    """CloudFormation's drift detection of a running stack with a zone output, started: (its ID, "") or (None, why
    it could not be started); (None, "") for any other stack. Needs nothing but the described stack, so it starts
    beside the record listing, not after it (each is a round trip)."""
    if not _zone_id(state):
        return None, ""
    return _start_detection(ctx)


def check_drift(ctx: Ctx, deployed: Deployed, live: Live, *, plan: bool, overwrite: bool) -> DriftCheck:
    """Step 5: compare the zone's records with the deployed template; CloudFormation's detection is running."""
    if not deployed.template:
        return DriftCheck()
    if live.records is None:
        return DriftCheck(note="The deployed stack has no zone output: records not compared.")
    records = record_drift(live_resources(deployed.template, deployed.values), live.records)
    refuse_drift(ctx, records, plan=plan, overwrite=overwrite)
    return DriftCheck(records, live.detection, live.unstarted)


def _start_detection(ctx: Ctx) -> tuple[str | None, str]:
    """Ask CloudFormation to detect drift: (the detection ID, "") or (None, why it could not be started)."""
    try:
        return ctx.stack.start_drift_detection(), ""
    except AwsError as exc:
        code = exc.code or type(exc.__cause__).__name__
        if code in ("AccessDenied", "AccessDeniedException"):  # name the missing permission, not just the code
            code = f"{code}: {exc.__cause__.response['Error'].get('Message', '')} (see docs/permissions.md)"
        return None, redact(f"it could not be started ({code})")


@dataclass(frozen=True)
class Detected:
    """CloudFormation's detection as one look found it finished: its status and the drifted resources."""

    status: dict
    drifts: list[dict]


def peek_detection(ctx: Ctx, check: DriftCheck) -> Detected | None:
    """One look at the detection, read while the change set is made (reads only, nothing printed): its verdict
    when it has finished; None when it is still running, was never started or could not be read (step 10 then
    waits for it, or says why, as without a look)."""
    if check.detection is None:
        return None
    try:
        status = ctx.stack.drift_detection(check.detection, 0.0)  # one look, no waiting
        if status["DetectionStatus"] == "DETECTION_IN_PROGRESS":
            return None
        return Detected(status, ctx.stack.resource_drifts())
    except AwsError:
        return None


def finish_detection(
    ctx: Ctx, check: DriftCheck, *, plan: bool, overwrite: bool, detected: Detected | None = None
) -> DriftVerdict:
    """Step 10: CloudFormation's verdict on the non-record resources (records were compared at step 5).

    A detection that could not be started, failed for some resources (``DETECTION_FAILED``:
    results only for the rest), did not finish in time or could not be read is said so; an
    unattended deploy then refuses, as it does for drift, unless ``--overwrite-drift`` (which
    deploys without that check), and a plan says a deploy would.
    Drift on a resource that is not a record cannot be put back by ``--overwrite-drift``:
    the deploy refuses and says how to look at it and put it back by hand.
    ``detected``: the finished detection a look while the change set was made found (then not read again).
    """
    if check.detection is None:
        if not check.unstarted:
            return DriftVerdict(note=check.note)
        note = _note_incomplete(ctx, check.unstarted)
        _refuse_incomplete(ctx, check.unstarted, plan=plan, overwrite=overwrite)
        return DriftVerdict(note=note)
    try:
        if detected is not None:
            status, drifts = detected.status, detected.drifts
        else:
            status = ctx.stack.drift_detection(check.detection, DETECTION_DEADLINE_SECONDS)
            drifts = ctx.stack.resource_drifts() if status["DetectionStatus"] != "DETECTION_IN_PROGRESS" else []
    except AwsError as exc:
        status, drifts = {"DetectionStatus": "UNREADABLE", "Reason": str(exc)}, []
    incomplete = None
    if status["DetectionStatus"] == "UNREADABLE":
        incomplete = f"its answer could not be read: {status['Reason']}"
    elif status["DetectionStatus"] == "DETECTION_FAILED":
        incomplete = f"DETECTION_FAILED: {failure_reasons(status.get('DetectionStatusReason'))}"
    elif status["DetectionStatus"] == "DETECTION_IN_PROGRESS":
        incomplete = f"still running after {DETECTION_DEADLINE_SECONDS:.0f}s"
    note = _note_incomplete(ctx, incomplete) if incomplete else check.note
    rows = []
    for drift in drifts:
        if drift.get("ResourceType") == RECORD_TYPE:
            continue  # compared directly
        for difference in drift.get("PropertyDifferences") or [{"PropertyPath": "(resource)"}]:
            rows.append(
                Drift(
                    drift["LogicalResourceId"],
                    difference.get("PropertyPath", ""),
                    redact(str(difference.get("ExpectedValue", ""))),
                    redact(str(difference.get("ActualValue", drift.get("StackResourceDriftStatus", "")))),
                    str(drift.get("ResourceType", "")),
                )
            )
    if rows:
        show_drift(ctx, rows)
        if not plan:
            target = ctx.target
            advice = drift_advice([d.resource for d in rows], stack=target.stack, region=target.region,
                                  command=target.rerun)  # fmt: skip
            raise Refused(f"{target.stack}: refusing to deploy: the drift in the table above: {advice}")
    if incomplete:  # after the drift it did find, which refuses first
        _refuse_incomplete(ctx, incomplete, plan=plan, overwrite=overwrite)
    return DriftVerdict(rows, note)


def _note_incomplete(ctx: Ctx, why: str) -> str:
    """The reviewer's note: CloudFormation's detection did not check every resource, and why."""
    note = f"CloudFormation's drift detection did not check every resource ({why}); the records were compared directly."
    ctx.out.progress(f"{ctx.target.stack}: {note}")
    return note


def _refuse_incomplete(ctx: Ctx, why: str, *, plan: bool, overwrite: bool) -> None:
    """An unattended deploy refuses an incomplete detection; a plan says a deploy would (--overwrite-drift: go on)."""
    stack = ctx.target.stack
    advice = "rerun to detect again, or rerun with --overwrite-drift to deploy without that check"
    if plan:
        ctx.out.result(
            f"{stack}: a deploy now would be refused (exit 3): CloudFormation's drift detection did not check "
            f"every resource ({why}); {advice}"
        )
    elif not overwrite:
        raise Refused(
            f"{stack}: refusing to deploy: CloudFormation's drift detection did not check every resource ({why}); "
            f"{advice}"
        )


def failure_reasons(reason: object) -> str:
    """A failed detection's reason in one line: each resource and why (CloudFormation answers a JSON object)."""
    if not reason:
        return "no reason given"
    try:
        parsed = json.loads(str(reason))
        failures = parsed["Failures"]
        said = "; ".join(f"{f['Resource']}: {f['FailureReason']}" for f in failures if isinstance(f, dict))
    except (ValueError, KeyError, TypeError):
        return redact(" ".join(str(reason).split()))
    return redact(" ".join((said or str(parsed.get("Summary", reason))).split()))


def show_drift(ctx: Ctx, drift: list[Drift]) -> None:
    """The drift table: resource, property, the deployed template's value, the live one."""
    rows = [(d.resource, d.property, d.expected, d.actual) for d in drift]
    ctx.out.table(
        f"{ctx.target.stack}: drift: live values differ from the deployed template",
        [("RESOURCE", "PROPERTY", "EXPECTED", "ACTUAL"), *rows],
    )


def refuse_drift(ctx: Ctx, drift: list[Drift], *, plan: bool, overwrite: bool) -> None:
    """Show the drift; refuse to go on unless this is a plan or the operator said --overwrite-drift."""
    if not drift:
        return
    show_drift(ctx, drift)
    if plan or overwrite:
        return
    raise Refused(
        f"{ctx.target.stack}: refusing to deploy: {len(drift)} value(s) were changed outside "
        "CloudFormation (table above); bring them back into the template, or rerun with --overwrite-drift "
        "to put them back as the deployed template says"
    )


def repaired_sentence(ctx: Ctx, zone_id: str, changes: list[dict]) -> str:
    """What Route 53 shows of a repair that was stopped: how many of its records are back (a batch is atomic)."""
    listed = ctx.aws.items("route53", "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone_id)
    live = {(r["Name"].lower(), r["Type"]): sorted(v["Value"] for v in r.get("ResourceRecords") or []) for r in listed}
    wanted = [c["ResourceRecordSet"] for c in changes]
    back = sum(
        live.get((r["Name"].lower(), r["Type"])) == sorted(v["Value"] for v in r["ResourceRecords"]) for r in wanted
    )
    if back == len(wanted):
        return f"put {len(wanted)} drifted record(s) back as the deployed template says"
    return f"{len(wanted) - back} of {len(wanted)} drifted record(s) are not back yet: rerun with --overwrite-drift"


def repair_drift(ctx: Ctx, deployed: Deployed, drift: list[Drift]) -> None:
    """--overwrite-drift: put drifted records back as the deployed template says, before executing."""
    expected = live_resources(deployed.template, deployed.values)
    changes = []
    for logical_id in sorted({d.resource for d in drift}):
        resource = expected.get(logical_id) or {}
        if resource.get("Type") != RECORD_TYPE:
            continue
        props = resource["Properties"]
        records = props.get("ResourceRecords") or []
        record_set = {
            "Name": str(props["Name"]).rstrip(".") + ".",
            "Type": props["Type"],
            "TTL": int(props["TTL"]),
            "ResourceRecords": [{"Value": str(v)} for v in (records if isinstance(records, list) else [records])],
        }
        changes.append({"Action": "UPSERT", "ResourceRecordSet": record_set})
    if not changes:
        return
    zone_id = deployed.outputs[O_ZONE_ID]
    with ctx.journal.attempt(
        f"{len(changes)} drifted record(s)",
        done=f"put {len(changes)} drifted record(s) back as the deployed template says",
        unsure=f"putting {len(changes)} drifted record(s) back was started and may not have completed",
        check=lambda: repaired_sentence(ctx, zone_id, changes),
    ):
        ctx.aws.call(
            "route53",
            "change_resource_record_sets",
            what="(overwrite drift)",
            HostedZoneId=zone_id,
            ChangeBatch={"Comment": "deploy.py --overwrite-drift", "Changes": changes},
        )
    ctx.out.progress(f"{ctx.target.stack}: put {len(changes)} drifted record(s) back as the deployed template says")
