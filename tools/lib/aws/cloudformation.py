"""CloudFormation's calls on one stack, each a named method that answers what CloudFormation said.

Modelled on aws-cli's ``customizations/cloudformation/deployer.py``: a stack in
``REVIEW_IN_PROGRESS`` counts as new, and either of CloudFormation's two "no
changes" reasons is its own outcome (``ChangeSetReady.no_changes``). ``Stack`` holds
no state about the stack itself: every call that needs the StackId is given it (a
stack deleted and created again under the same name is another stack).

``Stack`` answers states and facts (a change set's status, how a stack's events
ended, whether a stack is there); what an operator should do about them, and
which exit code that is, is the calling step's to say (``tools.lib.deploy``).

Waiting goes through ``tools.lib.poll.poll``: one Describe call per look, every
``poll_seconds`` (2 s): at most 30 calls a minute, so partitions deploying side by
side do not invite throttling, and the end is noticed within one look. Following
reads only the stack's events, by StackId, until the stack's own terminal event; it
hands each event to ``on_event`` as it comes, a heartbeat line to ``on_heartbeat``
after every 30 s without one, and stops at a deadline (the stack carries on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from tools.lib.aws.clients import Aws
from tools.lib.aws.errors import AwsError
from tools.lib.clock import REAL, Clock
from tools.lib.output import console
from tools.lib.poll import poll

LOG = logging.getLogger(__name__)

CAPABILITIES = ["CAPABILITY_IAM"]
NO_CHANGES_REASONS = (
    "The submitted information didn't contain changes",
    "No updates are to be performed",
)
CREATE_STATES = {None, "REVIEW_IN_PROGRESS"}
UPDATE_STATES = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
}
CHANGE_SET_TIMEOUT_SECONDS = 600.0
# Every change set deploy.py makes says so first in its Description (and then which run made it, for what).
CHANGE_SET_DESCRIPTION = "Created by deploy.py (Arda partition mail)"
# A change set's ExecutionStatus once its execution was asked for.
EXECUTED = ("EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE", "EXECUTE_FAILED")
TERMINAL_SUFFIXES = ("_COMPLETE", "_FAILED")
POLL_SECONDS = 2.0
# More pages than any of this stack's listings can have (about 15 resources, a few change sets).
MAX_PAGES = 100
HEARTBEAT_SECONDS = 30.0


def _not_found(exc: AwsError) -> bool:
    """CloudFormation's answer for a change set that does not exist (ChangeSetNotFound, HTTP 404)."""
    return exc.code in ("ChangeSetNotFound", "ChangeSetNotFoundException")


def server_time(response: dict) -> datetime | None:
    """AWS's clock: the Date header of one of its answers (None when there is none)."""
    header = (response.get("ResponseMetadata", {}).get("HTTPHeaders") or {}).get("date")
    try:
        return parsedate_to_datetime(header) if header else None
    except (TypeError, ValueError):
        return None


def _says_none(exc: AwsError, words: str) -> bool:
    """Whether ``exc`` is CloudFormation's ValidationError saying ``words`` (its way of answering "none")."""
    return exc.says("ValidationError", words)


@dataclass(frozen=True)
class ChangeSet:
    """A change set this run created: its ARN, its stack's ID, and CREATE, UPDATE or IMPORT."""

    id: str
    stack_id: str
    kind: str

    @property
    def name(self) -> str:
        """The change set's name, from its ARN (``…:changeSet/<name>/<uuid>``); also its idempotency token."""
        return self.id.split(":changeSet/", 1)[-1].split("/", 1)[0]

    @property
    def account(self) -> str:
        """The account in the change set's ARN ("?" when it is not an ARN)."""
        parts = self.id.split(":")
        return parts[4] if len(parts) > 5 else "?"


@dataclass(frozen=True)
class ResourceChange:
    """One row of a change set."""

    action: str
    logical_id: str
    resource_type: str
    replacement: str


@dataclass(frozen=True)
class ChangeSetReady:
    """How waiting for a change set ended: its status and reason, and its changes once CREATE_COMPLETE.

    ``status`` is still a ``*_PENDING``/``*_IN_PROGRESS`` one when the wait reached its deadline.
    """

    status: str
    reason: str = ""
    changes: tuple[ResourceChange, ...] = ()
    elapsed: float = 0.0

    @property
    def no_changes(self) -> bool:
        """CloudFormation's own sentence for an empty change set (not a reason that merely quotes it)."""
        return self.status == "FAILED" and self.reason.startswith(NO_CHANGES_REASONS)


@dataclass(frozen=True)
class Followed:
    """How following a stack ended: its final status (None: the deadline came first), after how long, the
    event it followed from (to list what failed since), and how long after CloudFormation's own terminal
    event this run noticed it (None: unknown, or a skewed local clock)."""

    status: str | None
    elapsed: float
    since: str | None
    lag: float | None = None


@dataclass(frozen=True)
class StackEvent:
    """One stack event, as shown while following."""

    timestamp: object
    logical_id: str
    resource_type: str
    status: str
    reason: str

    @classmethod
    def from_api(cls, event: dict) -> StackEvent:
        """An event of DescribeStackEvents."""
        return cls(
            event["Timestamp"],
            event.get("LogicalResourceId", ""),
            event.get("ResourceType", ""),
            event.get("ResourceStatus", ""),
            event.get("ResourceStatusReason", "") or "",
        )


def outputs(stack: dict | None) -> dict[str, str]:
    """A described stack's outputs, OutputKey → OutputValue (the one reader of outputs)."""
    return {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs") or []}


def exports(stack: dict | None) -> list[tuple[str, str]]:
    """(export name, value) of every exported output of a described stack, by name."""
    return sorted(
        (o["ExportName"], o["OutputValue"]) for o in (stack or {}).get("Outputs") or [] if o.get("ExportName")
    )


def parameter_values(stack: dict | None) -> dict[str, str]:
    """A described stack's parameters, ParameterKey → ParameterValue ("" when absent)."""
    return {p["ParameterKey"]: p.get("ParameterValue") or "" for p in (stack or {}).get("Parameters") or []}


class Stack:
    """CloudFormation calls on one stack (in the run's region, or ``region``), a clock, and where events go."""

    def __init__(
        self,
        aws: Aws,
        name: str,
        *,
        region: str | None = None,
        clock: Clock = REAL,
        poll_seconds: float = POLL_SECONDS,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        on_event: Callable[[StackEvent], None] | None = None,
        on_heartbeat: Callable[[str], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
        timeout_seconds: float = 3600.0,
    ) -> None:
        self.aws = aws
        self.name = name
        self.region = region
        self.timeout_seconds = timeout_seconds  # --timeout: the longest any wait of this run may take
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._on_event = on_event or (lambda event: None)
        self._on_heartbeat = on_heartbeat or console().progress
        self._on_warning = on_warning or console().warning

    def _call(self, operation: str, **params) -> dict:
        return self.aws.call("cloudformation", operation, region=self.region, **params)

    def _pages(self, operation: str, **params):
        return self.aws.pages("cloudformation", operation, region=self.region, **params)

    # -- the stack ------------------------------------------------------------

    def describe(self) -> dict | None:
        """The stack by name, or None when it does not exist."""
        try:
            stacks = self._call("describe_stacks", StackName=self.name)["Stacks"]
        except AwsError as exc:
            if _says_none(exc, "does not exist"):
                return None
            raise
        return stacks[0] if stacks else None

    def describe_by_id(self, stack_id: str) -> dict | None:
        """The stack by its StackId, or None once it is deleted (by ID, CloudFormation still shows a deleted
        stack, DELETE_COMPLETE; a stack deleted and created again under the name is another one)."""
        try:
            stacks = self._call("describe_stacks", StackName=stack_id)["Stacks"]
        except AwsError as exc:
            if _says_none(exc, "does not exist"):
                return None
            raise
        return stacks[0] if stacks and stacks[0].get("StackStatus") != "DELETE_COMPLETE" else None

    @staticmethod
    def change_set_type(stack: dict | None) -> str | None:
        """CREATE for no stack (or a REVIEW_IN_PROGRESS one), UPDATE for a settled one, None for any other state."""
        status = stack["StackStatus"] if stack else None
        if status in CREATE_STATES:
            return "CREATE"
        if status in UPDATE_STATES:
            return "UPDATE"
        return None

    def template_body(self, stack_id: str) -> str:
        """The stack's deployed template as it was submitted (``TemplateStage=Original``)."""
        return self._call("get_template", StackName=stack_id, TemplateStage="Original")["TemplateBody"]

    def resources(self, stack_id: str) -> list[dict]:
        """The stack's resources as CloudFormation records them (logical ID, type, physical ID, status)."""
        return self._call("describe_stack_resources", StackName=stack_id)["StackResources"]

    def importers(self, stack: dict) -> dict[str, list[str]]:
        """Each export of ``stack`` that other stacks import, with their names (``ListImports``)."""
        used: dict[str, list[str]] = {}
        for name, _ in exports(stack):
            try:
                stacks = [s for page in self._pages("list_imports", ExportName=name) for s in page.get("Imports", [])]
            except AwsError as exc:
                if _says_none(exc, "is not imported"):
                    continue  # CloudFormation's answer for an export nobody imports
                raise
            if stacks:
                used[name] = sorted(set(stacks))
        return used

    def account_exports(self) -> list[dict]:
        """Every export of the account in this stack's region (``ListExports``)."""
        return [e for page in self._pages("list_exports") for e in page.get("Exports", [])]

    # -- protections ------------------------------------------------------------

    def policy(self, ref: str) -> str | None:
        """The stack policy's body (None when there is none)."""
        return self._call("get_stack_policy", StackName=ref).get("StackPolicyBody")

    def set_policy(self, ref: str, body: str) -> None:
        self._call("set_stack_policy", StackName=ref, StackPolicyBody=body)

    def set_termination_protection(self, ref: str, enabled: bool, what: str = "") -> None:
        self._call("update_termination_protection", what=what, EnableTerminationProtection=enabled, StackName=ref)

    # -- drift --------------------------------------------------------------------

    def start_drift_detection(self) -> str:
        """Start CloudFormation's drift detection of the stack; its detection ID."""
        return self._call("detect_stack_drift", StackName=self.name)["StackDriftDetectionId"]

    def drift_detection(self, detection_id: str, deadline_seconds: float) -> dict:
        """The detection's status once it is no longer DETECTION_IN_PROGRESS, or at the deadline (still so)."""
        return poll(
            lambda budget: self._call("describe_stack_drift_detection_status", StackDriftDetectionId=detection_id),
            clock=self.clock,
            deadline=self.clock.monotonic() + min(deadline_seconds, self.timeout_seconds),
            interval=self.poll_seconds,
            done=lambda status: status["DetectionStatus"] != "DETECTION_IN_PROGRESS",
        ).value

    def resource_drifts(self, statuses: tuple[str, ...] = ("MODIFIED", "DELETED")) -> list[dict]:
        """The drift of each resource the last detection found in ``statuses``."""
        pages = self._pages(
            "describe_stack_resource_drifts", StackName=self.name, StackResourceDriftStatusFilters=list(statuses)
        )
        return [d for page in pages for d in page.get("StackResourceDrifts", [])]

    # -- change sets -----------------------------------------------------------

    def create_change_set(
        self,
        name: str,
        template_body: str,
        parameters: dict[str, str],
        tags: dict[str, str],
        kind: str,
        description: str = CHANGE_SET_DESCRIPTION,
        resources_to_import: list[dict] | None = None,
    ) -> ChangeSet:
        """Submit the change set ``name`` (chosen, and journaled, before the request is sent).

        ``kind`` IMPORT takes ``resources_to_import`` (``ResourcesToImport``) into the stack.
        """
        request = {
            "StackName": self.name,
            "ChangeSetName": name,
            "ClientToken": name,  # a retry after a lost answer is this request, not a second change set
            "ChangeSetType": kind,
            "TemplateBody": template_body,
            "Capabilities": CAPABILITIES,
            "Description": description,
        }
        if parameters:
            request["Parameters"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
        if tags:  # none for an import: it may not change the stack's tags
            request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        if resources_to_import:
            request["ResourcesToImport"] = resources_to_import
        response = self._call("create_change_set", **request)
        return ChangeSet(response["Id"], response.get("StackId", ""), kind)

    def wait_for_change_set(self, change_set_id: str) -> ChangeSetReady:
        """Look until the change set is CREATE_COMPLETE or FAILED, or the deadline; how it stands then."""
        limit = min(CHANGE_SET_TIMEOUT_SECONDS, self.timeout_seconds)
        polled = poll(
            lambda budget: self._call("describe_change_set", ChangeSetName=change_set_id),
            clock=self.clock,
            deadline=self.clock.monotonic() + limit,
            interval=self.poll_seconds,
            done=lambda response: response["Status"] in ("CREATE_COMPLETE", "FAILED"),
        )
        response = polled.value
        changes = self._changes(change_set_id, response) if response["Status"] == "CREATE_COMPLETE" else ()
        return ChangeSetReady(response["Status"], response.get("StatusReason", "") or "", changes, polled.elapsed)

    def _changes(self, change_set_id: str, first_page: dict) -> tuple[ResourceChange, ...]:
        pages = [first_page]
        if first_page.get("NextToken"):
            pages = list(self._pages("describe_change_set", ChangeSetName=change_set_id))  # from the start
        return tuple(
            ResourceChange(
                action=rc.get("Action", ""),
                logical_id=rc.get("LogicalResourceId", ""),
                resource_type=rc.get("ResourceType", ""),
                replacement=rc.get("Replacement", "") or "",
            )
            for page in pages
            for rc in (change.get("ResourceChange", {}) for change in page.get("Changes", []))
        )

    def _by_name(self, ref: str) -> dict[str, str]:
        """A change set by its ARN, or by its name and this stack's name."""
        return {"ChangeSetName": ref} if ref.startswith("arn:") else {"ChangeSetName": ref, "StackName": self.name}

    def change_set_exists(self, ref: str) -> bool:
        """Whether CloudFormation still holds the change set (by ARN, or by name on this stack)."""
        try:
            self._call("describe_change_set", **self._by_name(ref))
        except AwsError as exc:
            if _not_found(exc):
                return False
            raise
        return True

    def execute_change_set(self, change_set: ChangeSet) -> None:
        """Ask CloudFormation to execute ``change_set``.

        ClientRequestToken: botocore's retry after a lost answer is this same request, not a second
        execution CloudFormation would refuse (InvalidChangeSetStatus) while the first one runs.
        RetainExceptOnCreate: what this execution creates goes if it rolls back, DeletionPolicy
        Retain or not (a failed first creation left an orphan zone and webhook secret otherwise).
        """
        self._call(
            "execute_change_set",
            ChangeSetName=change_set.id,
            ClientRequestToken=change_set.name,
            RetainExceptOnCreate=True,
        )

    def delete_change_set(self, ref: str) -> bool:
        """Remove a change set that will not be executed; False when there was none (safe to call twice).

        Whether it is gone is asked of CloudFormation (``DescribeChangeSet``), not assumed:
        a delete whose answer was lost, or one of a change set never made, is not an error.
        """
        try:
            self._call("delete_change_set", **self._by_name(ref))
        except AwsError:
            if self.change_set_exists(ref):
                raise
            return False
        return True

    def executed(self, ref: str, stack_id: str) -> bool | None:
        """Whether the change set's execution was started (None: CloudFormation could not say).

        A change set being executed or executed says so in its ExecutionStatus; once a
        stack update completes CloudFormation removes the stack's change sets, and the
        stack names the change set it last executed (``ChangeSetId``).
        """
        try:
            found = self._call("describe_change_set", **self._by_name(ref))
            return found.get("ExecutionStatus") in EXECUTED
        except AwsError as exc:
            if not _not_found(exc):
                return None
        stack = self.describe_by_id(stack_id) if stack_id else self.describe()
        last = (stack or {}).get("ChangeSetId") or ""
        return bool(last) and (last == ref or last.split(":changeSet/", 1)[-1].split("/", 1)[0] == ref)

    def delete_review_stack(self, stack_id: str | None = None) -> bool:
        """Remove the empty REVIEW_IN_PROGRESS stack a CREATE change set left behind; whether it removed one.

        Only while it holds no other change set: a concurrent deploy's CREATE change
        set lives on the same REVIEW_IN_PROGRESS stack, and deleting the stack would
        delete that one too. Safe to call twice: it asks what the stack is first.
        """
        stack = self.describe_by_id(stack_id) if stack_id else self.describe()
        if not stack or stack["StackStatus"] != "REVIEW_IN_PROGRESS":
            return False
        others = [
            s for page in self._pages("list_change_sets", StackName=stack["StackId"]) for s in page.get("Summaries", [])
        ]
        if others:
            self._on_warning(
                f"{self.name}: left the REVIEW_IN_PROGRESS stack in place: it holds {len(others)} other change "
                f"set(s) ({', '.join(o.get('ChangeSetName', '?') for o in others)})"
            )
            return False
        self._call("delete_stack", StackName=stack["StackId"])
        return True

    def unexecuted_change_sets(self, stack_id: str) -> tuple[list[dict], datetime | None]:
        """Change sets deploy.py made on this stack and nobody executed (being made, ready, or failed),
        and AWS's time when it answered (``server_time``: ages are measured on AWS's clock)."""
        summaries, now = [], None
        for page in self._pages("list_change_sets", StackName=stack_id):
            summaries += page.get("Summaries", [])
            now = now or server_time(page)
        ours = [
            s
            for s in summaries
            if str(s.get("Description", "")).startswith(CHANGE_SET_DESCRIPTION)
            and s.get("ExecutionStatus") in ("AVAILABLE", "UNAVAILABLE")
            and s.get("Status") in ("CREATE_PENDING", "CREATE_IN_PROGRESS", "CREATE_COMPLETE", "FAILED")
        ]
        return ours, now

    # -- deleting and following ------------------------------------------------------

    def delete(self, stack_id: str) -> Followed:
        """Delete the stack and follow it to its end (or ``timeout_seconds``)."""
        since = self.newest_event_id(stack_id)
        self._call("delete_stack", StackName=stack_id)
        return self.follow(stack_id, since)

    def newest_event_id(self, stack_id: str) -> str | None:
        """The ID of the stack's newest event (None for a stack without events)."""
        events = self._call("describe_stack_events", StackName=stack_id).get("StackEvents", [])
        return events[0]["EventId"] if events else None

    def _new_events(self, stack_id: str, since: str | None, seen: set[str]) -> list[dict]:
        """Events after ``since`` not yet seen, oldest first (pages are newest first)."""
        fresh = []
        for page in self._pages("describe_stack_events", StackName=stack_id):
            for event in page.get("StackEvents", []):
                if event["EventId"] == since or event["EventId"] in seen:
                    return list(reversed(fresh))
                fresh.append(event)
        return list(reversed(fresh))

    def _is_stack_end(self, event: dict) -> bool:
        return (
            event.get("ResourceType") == "AWS::CloudFormation::Stack"
            and event.get("LogicalResourceId") == self.name
            and str(event.get("ResourceStatus", "")).endswith(TERMINAL_SUFFIXES)
            and "_IN_PROGRESS" not in str(event.get("ResourceStatus", ""))
        )

    def follow(self, stack_id: str, since: str | None, timeout_seconds: float | None = None) -> Followed:
        """Hand events on as they come until the stack's own terminal event, or the deadline; how it ended.

        One describe_stack_events walk per look; a heartbeat after ``heartbeat_seconds`` without an event.
        """
        seen: set[str] = set()
        ended: list[StackEvent] = []
        last: list[StackEvent] = []

        def look(budget: float) -> list[dict]:
            events = self._new_events(stack_id, since, seen)
            for event in events:
                seen.add(event["EventId"])
                shown = StackEvent.from_api(event)
                last[:] = [shown]
                self._on_event(shown)
                if self._is_stack_end(event):
                    ended.append(shown)
                    break
            return events

        def heartbeat(events: list[dict], elapsed: float, pause: float) -> None:
            latest = f"{last[0].status} {last[0].logical_id} at {last[0].timestamp:%H:%M:%S}" if last else "none yet"
            self._on_heartbeat(f"{self.name}: still waiting after {elapsed:.0f}s; last event: {latest}")

        polled = poll(
            look,
            clock=self.clock,
            deadline=self.clock.monotonic()
            + (timeout_seconds if timeout_seconds is not None else self.timeout_seconds),
            interval=self.poll_seconds,
            done=lambda events: bool(ended),
            heartbeat=heartbeat,
            heartbeat_seconds=self.heartbeat_seconds,
            progressed=bool,
        )
        if ended:
            return Followed(ended[0].status, polled.elapsed, since, self._lag(ended[0]))
        return Followed(None, polled.elapsed, since)

    def _lag(self, end: StackEvent) -> float | None:
        """How long after CloudFormation's own terminal event this run noticed it."""
        try:
            lag = (self.clock.now() - end.timestamp).total_seconds()
        except TypeError:  # a timestamp without a zone: nothing to compare with
            return None
        return lag if lag >= 0 else None  # a skewed local clock makes the figure meaningless

    def failed_events(self, stack_id: str, since: str | None) -> list[StackEvent]:
        """Each resource that failed since ``since``, with CloudFormation's reason."""
        return [
            StackEvent.from_api(e)
            for e in self._new_events(stack_id, since, set())
            if e.get("ResourceStatus", "").endswith("_FAILED")
        ]
