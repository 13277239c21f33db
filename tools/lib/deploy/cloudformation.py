"""CloudFormation change-set operations on one stack, each a named call handed what it needs.

Modelled on aws-cli's ``customizations/cloudformation/deployer.py``: a stack in
``REVIEW_IN_PROGRESS`` counts as new, and either of CloudFormation's two "no
changes" reasons is its own outcome (``NoChanges``). ``Stack`` holds no state about
the stack itself: every call that needs the StackId is given it (a stack deleted
and created again under the same name is another stack).

Waiting makes one Describe call per poll, every ``poll_seconds`` (2 s): at most 30
calls a minute, so partitions deploying side by side do not invite throttling, and
the end is noticed within one poll. Following reads only the stack's events, by
StackId, until the stack's own terminal event; it hands each event to ``on_event``
as it comes, a heartbeat line to ``on_heartbeat`` after every 30 s without one, and
gives up at a deadline (the stack carries on; the message says how to watch it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from botocore.exceptions import ClientError

from tools.lib.aws_errors import AwsError, aws_call
from tools.lib.clock import REAL, Clock
from tools.lib.errors import ArdaMailError, Refused

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
# What an operator does about a stack state a deploy cannot work from.
_STATE_ADVICE = {
    "UPDATE_ROLLBACK_FAILED": (
        "finish the rollback (aws cloudformation continue-update-rollback, skipping resources that "
        "cannot roll back), then rerun"
    ),
    "DELETE_FAILED": (
        "its deletion failed: fix what blocked it (see describe-stack-events), delete it again "
        "(aws cloudformation delete-stack), then rerun"
    ),
    "ROLLBACK_FAILED": (
        "its first creation could not be rolled back: delete it (aws cloudformation delete-stack), then rerun"
    ),
}
_OTHER_STATE = "resolve it in the CloudFormation console before deploying"


class NoChanges(ArdaMailError):
    """The change set is empty: the stack already matches. A success, not a failure."""

    exit_code = 0


class StackStateError(Refused):
    """The stack is in a state a deploy must not touch without the operator."""


class DeployFailed(ArdaMailError):
    """The change set or its execution failed; CloudFormation rolled back."""


class FollowTimeout(ArdaMailError):
    """The stack did not settle before the deadline; CloudFormation carries on."""

    def __init__(self, message: str, elapsed: float = 0.0) -> None:
        super().__init__(message)
        self.elapsed = elapsed


def _not_found(exc: AwsError) -> bool:
    """CloudFormation's answer for a change set that does not exist (ChangeSetNotFound, HTTP 404)."""
    cause = exc.__cause__
    return isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in (
        "ChangeSetNotFound",
        "ChangeSetNotFoundException",
    )


def server_time(response: dict) -> datetime | None:
    """AWS's clock: the Date header of one of its answers (None when there is none)."""
    header = (response.get("ResponseMetadata", {}).get("HTTPHeaders") or {}).get("date")
    try:
        return parsedate_to_datetime(header) if header else None
    except (TypeError, ValueError):
        return None


def _validation_error_saying(exc: AwsError, words: str) -> bool:
    """Whether ``exc`` is CloudFormation's ValidationError saying ``words`` (its way of answering "none")."""
    cause = exc.__cause__
    if not isinstance(cause, ClientError):
        return False
    error = cause.response.get("Error", {})
    return error.get("Code") == "ValidationError" and words in error.get("Message", "")


@dataclass(frozen=True)
class ChangeSet:
    """A change set this run created: its ARN, its stack's ID, and CREATE or UPDATE."""

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
    """CloudFormation calls on one stack, handed its client, a clock, and where events go."""

    def __init__(
        self,
        cloudformation,
        name: str,
        *,
        clock: Clock = REAL,
        poll_seconds: float = POLL_SECONDS,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        on_event: Callable[[StackEvent], None] | None = None,
        on_heartbeat: Callable[[str], None] | None = None,
        timeout_seconds: float = 3600.0,
    ) -> None:
        self.cfn = cloudformation
        self.timeout_seconds = timeout_seconds  # --timeout: the longest any wait of this run may take
        self.name = name
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._on_event = on_event or (lambda event: None)
        self._on_heartbeat = on_heartbeat or (lambda line: LOG.info("%s", line))

    def call(self, operation: str, **kwargs):
        """One CloudFormation call; a failure is one sentence naming the operation and the stack."""
        with aws_call(operation, self.name):
            return getattr(self.cfn, operation)(**kwargs)

    # -- state --------------------------------------------------------------

    def describe(self) -> dict | None:
        """The stack by name, or None when it does not exist."""
        try:
            stacks = self.call("describe_stacks", StackName=self.name)["Stacks"]
        except AwsError as exc:
            if _validation_error_saying(exc, "does not exist"):
                return None
            raise
        return stacks[0] if stacks else None

    def importers(self, stack: dict) -> dict[str, list[str]]:
        """Each export of ``stack`` that other stacks import, with their names (``ListImports``)."""
        used: dict[str, list[str]] = {}
        for name, _ in exports(stack):
            try:
                stacks = [s for page in self.pages("list_imports", ExportName=name) for s in page.get("Imports", [])]
            except AwsError as exc:
                if _validation_error_saying(exc, "is not imported"):
                    continue  # CloudFormation's answer for an export nobody imports
                raise
            if stacks:
                used[name] = sorted(set(stacks))
        return used

    def change_set_type(self, stack: dict | None) -> str:
        """CREATE for a new (or REVIEW_IN_PROGRESS) stack, UPDATE for a settled one; StackStateError otherwise."""
        status = stack["StackStatus"] if stack else None
        if status in CREATE_STATES:
            return "CREATE"
        if status in UPDATE_STATES:
            return "UPDATE"
        if status == "ROLLBACK_COMPLETE":
            raise StackStateError(
                f"{self.name}: the stack is ROLLBACK_COMPLETE (its first creation failed) and cannot be "
                "updated; rerun with --delete-failed-stack to delete it and create it again"
            )
        if status.endswith("_IN_PROGRESS"):
            raise StackStateError(
                f"{self.name}: the stack is busy ({status}); wait for it to settle, then rerun "
                f"(watch: aws cloudformation describe-stack-events --stack-name {self.name})"
            )
        raise StackStateError(f"{self.name}: the stack is {status}; {_STATE_ADVICE.get(status, _OTHER_STATE)}")

    def delete_stack(self, stack_id: str) -> str:
        """Delete the stack and follow it to its end; its final status."""
        since = self.newest_event_id(stack_id)
        self.call("delete_stack", StackName=stack_id)
        return self.follow(stack_id, since)

    # -- change sets -----------------------------------------------------------

    def create_change_set(
        self,
        name: str,
        template_body: str,
        parameters: dict[str, str],
        tags: dict[str, str],
        kind: str,
        description: str = CHANGE_SET_DESCRIPTION,
    ) -> ChangeSet:
        """Submit the change set ``name`` (chosen, and journaled, before the request is sent)."""
        response = self.call(
            "create_change_set",
            StackName=self.name,
            ChangeSetName=name,
            ClientToken=name,  # a retry after a lost answer is this request, not a second change set
            ChangeSetType=kind,
            TemplateBody=template_body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            Description=description,
        )
        return ChangeSet(response["Id"], response.get("StackId", ""), kind)

    def wait_for_change_set(self, change_set_id: str) -> list[ResourceChange]:
        """Poll until the change set is ready; its changes, or NoChanges / DeployFailed."""
        limit = min(CHANGE_SET_TIMEOUT_SECONDS, self.timeout_seconds)
        deadline = self.clock.monotonic() + limit
        while True:
            response = self.call("describe_change_set", ChangeSetName=change_set_id)
            status = response["Status"]
            if status == "CREATE_COMPLETE":
                return self._changes(change_set_id, response)
            if status == "FAILED":
                reason = response.get("StatusReason", "")
                if reason.startswith(NO_CHANGES_REASONS):  # CloudFormation's own sentence, not one that quotes it
                    raise NoChanges(f"{self.name}: no changes; the stack already matches the template")
                raise DeployFailed(f"{self.name}: the change set failed: {reason}")
            if self.clock.monotonic() > deadline:
                raise DeployFailed(f"{self.name}: the change set is still {status} after {limit:.0f}s")
            self.clock.sleep(self.poll_seconds)

    def _changes(self, change_set_id: str, first_page: dict) -> list[ResourceChange]:
        pages = [first_page]
        if first_page.get("NextToken"):
            rest = self.pages("describe_change_set", ChangeSetName=change_set_id)
            pages = list(rest)  # from the start: one bounded walk, the first page included
        return [
            ResourceChange(
                action=rc.get("Action", ""),
                logical_id=rc.get("LogicalResourceId", ""),
                resource_type=rc.get("ResourceType", ""),
                replacement=rc.get("Replacement", "") or "",
            )
            for page in pages
            for rc in (change.get("ResourceChange", {}) for change in page.get("Changes", []))
        ]

    def _by_name(self, ref: str) -> dict[str, str]:
        """A change set by its ARN, or by its name and this stack's name."""
        return {"ChangeSetName": ref} if ref.startswith("arn:") else {"ChangeSetName": ref, "StackName": self.name}

    def change_set_exists(self, ref: str) -> bool:
        """Whether CloudFormation still holds the change set (by ARN, or by name on this stack)."""
        try:
            self.call("describe_change_set", **self._by_name(ref))
        except AwsError as exc:
            if _not_found(exc):
                return False
            raise
        return True

    def delete_change_set(self, ref: str) -> bool:
        """Remove a change set that will not be executed; False when there was none (safe to call twice).

        Whether it is gone is asked of CloudFormation (``DescribeChangeSet``), not assumed:
        a delete whose answer was lost, or one of a change set never made, is not an error.
        """
        try:
            self.call("delete_change_set", **self._by_name(ref))
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
            found = self.call("describe_change_set", **self._by_name(ref))
            return found.get("ExecutionStatus") in EXECUTED
        except AwsError as exc:
            if not _not_found(exc):
                return None
        stack = self.describe_by_id(stack_id) if stack_id else self.describe()
        last = (stack or {}).get("ChangeSetId") or ""
        return bool(last) and (last == ref or last.split(":changeSet/", 1)[-1].split("/", 1)[0] == ref)

    def describe_by_id(self, stack_id: str) -> dict | None:
        """The stack by its StackId, or None once it is deleted (by ID, CloudFormation still shows a deleted
        stack, DELETE_COMPLETE; a stack deleted and created again under the name is another one)."""
        try:
            stacks = self.call("describe_stacks", StackName=stack_id)["Stacks"]
        except AwsError as exc:
            if _validation_error_saying(exc, "does not exist"):
                return None
            raise
        return stacks[0] if stacks and stacks[0].get("StackStatus") != "DELETE_COMPLETE" else None

    def delete_review_stack(self, stack_id: str | None = None) -> bool:
        """Remove the empty REVIEW_IN_PROGRESS stack a CREATE change set left behind; whether it removed one.

        Only while it holds no other change set: a concurrent deploy's CREATE change
        set lives on the same REVIEW_IN_PROGRESS stack, and deleting the stack would
        delete that one too. Safe to call twice: it asks what the stack is first.
        """
        stack = self.describe_by_id(stack_id) if stack_id else self.describe()
        if not stack or stack["StackStatus"] != "REVIEW_IN_PROGRESS":
            return False
        others = self.call("list_change_sets", StackName=stack["StackId"]).get("Summaries", [])
        if others:
            LOG.warning(
                "%s: left the REVIEW_IN_PROGRESS stack in place: it holds %d other change set(s) (%s)",
                self.name,
                len(others),
                ", ".join(o.get("ChangeSetName", "?") for o in others),
            )
            return False
        self.call("delete_stack", StackName=stack["StackId"])
        return True

    def unexecuted_change_sets(self, stack_id: str) -> tuple[list[dict], datetime | None]:
        """Change sets deploy.py made on this stack and nobody executed (being made, ready, or failed),
        and AWS's time when it answered (``server_time``: ages are measured on AWS's clock)."""
        summaries, now = [], None
        for page in self.pages("list_change_sets", StackName=stack_id):
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

    def pages(self, operation: str, **kwargs):
        """Every page of a paginated call, bounded: a NextToken seen before or too many pages is an error.

        CloudFormation never repeats a token or pages forever; an answer that does is
        not CloudFormation's (a broken proxy, an endpoint that is not AWS), and
        following it would call AWS thousands of times a minute.
        """
        seen: set[str] = set()
        token = None
        for _ in range(MAX_PAGES):
            page = self.call(operation, **kwargs, **({"NextToken": token} if token else {}))
            yield page
            token = page.get("NextToken")
            if not token:
                return
            if token in seen:
                raise DeployFailed(f"{self.name}: {operation} answered the same page token twice; not AWS's paging")
            seen.add(token)
        raise DeployFailed(f"{self.name}: {operation} went on past {MAX_PAGES} pages; not AWS's paging")

    # -- following ---------------------------------------------------------------

    def newest_event_id(self, stack_id: str) -> str | None:
        """The ID of the stack's newest event (None for a stack without events)."""
        events = self.call("describe_stack_events", StackName=stack_id).get("StackEvents", [])
        return events[0]["EventId"] if events else None

    def _new_events(self, stack_id: str, since: str | None, seen: set[str]) -> list[dict]:
        """Events after ``since`` not yet seen, oldest first (pages are newest first)."""
        fresh = []
        for page in self.pages("describe_stack_events", StackName=stack_id):
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

    def follow(self, stack_id: str, since: str | None, timeout_seconds: float | None = None) -> str:
        """Hand events on as they come until the stack's own terminal event; its status.

        One describe_stack_events call per poll. Raises FollowTimeout at the deadline.
        """
        started = last_event_at = self.clock.monotonic()
        deadline = started + (timeout_seconds if timeout_seconds is not None else self.timeout_seconds)
        seen: set[str] = set()
        last: StackEvent | None = None
        while True:
            events = self._new_events(stack_id, since, seen)
            for event in events:
                seen.add(event["EventId"])
                last = StackEvent.from_api(event)
                self._on_event(last)
                if self._is_stack_end(event):
                    self._log_latency(last)
                    return last.status
            now = self.clock.monotonic()
            if events:
                last_event_at = now
            elif now - last_event_at >= self.heartbeat_seconds:
                latest = f"{last.status} {last.logical_id} at {last.timestamp:%H:%M:%S}" if last else "none yet"
                self._on_heartbeat(f"{self.name}: still waiting after {now - started:.0f}s; last event: {latest}")
                last_event_at = now
            if now >= deadline:
                raise FollowTimeout(
                    f"{self.name}: not settled after {now - started:.0f}s (--timeout); CloudFormation carries "
                    f"on: watch it with: aws cloudformation describe-stack-events --stack-name {stack_id}",
                    now - started,
                )
            self.clock.sleep(self.poll_seconds)

    def _log_latency(self, end: StackEvent) -> None:
        """How long after CloudFormation's own terminal event this run noticed it (the deploy benchmark reads it)."""
        try:
            lag = (self.clock.now() - end.timestamp).total_seconds()
        except TypeError:  # a timestamp without a zone: nothing to compare with
            return
        if lag >= 0:  # a skewed local clock makes the figure meaningless
            LOG.info("%s: %s noticed %.2fs after CloudFormation reported it", self.name, end.status, lag)

    def failed_events(self, stack_id: str, since: str | None) -> list[StackEvent]:
        """Each resource that failed since ``since``, with CloudFormation's reason."""
        return [
            StackEvent.from_api(e)
            for e in self._new_events(stack_id, since, set())
            if e.get("ResourceStatus", "").endswith("_FAILED")
        ]
