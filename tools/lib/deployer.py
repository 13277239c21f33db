"""CloudFormation change-set deployment, step by named step.

Modelled on aws-cli's ``customizations/cloudformation/deployer.py``: a stack in
``REVIEW_IN_PROGRESS`` counts as new, and either of CloudFormation's two "no
changes" reasons is its own outcome (``NoChanges``).

Waiting makes one Describe call per poll, every ``poll_seconds`` (2 s): at most 30
calls a minute, so partitions deploying side by side do not invite throttling, and
the end is noticed within one poll. Following reads only the stack's events, by
StackId (a stack deleted and created again under the same name is another stack),
until the stack's own terminal event; it prints each event as it comes, a
heartbeat line after every 30 s without one, and gives up at a deadline (the stack
carries on; the message says how to watch it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from tools.lib.aws_errors import AWS_FAILURES, AwsError, aws_call
from tools.lib.aws_errors import describe as describe_aws_error
from tools.lib.errors import ArdaMailError

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
SUCCESS_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE"}
CHANGE_SET_TIMEOUT_SECONDS = 600.0
CHANGE_SET_DESCRIPTION = "Created by deploy.py (Arda partition mail)"
TERMINAL_SUFFIXES = ("_COMPLETE", "_FAILED")
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


class StackStateError(ArdaMailError):
    """The stack is in a state a deploy must not touch without the operator."""

    exit_code = 3


class DeployFailed(ArdaMailError):
    """The change set or its execution failed; CloudFormation rolled back."""


class FollowTimeout(ArdaMailError):
    """The stack did not settle before the deadline; CloudFormation carries on."""


@dataclass(frozen=True)
class ResourceChange:
    """One row of a change set."""

    action: str
    logical_id: str
    resource_type: str
    replacement: str


@dataclass(frozen=True)
class StackEvent:
    """One stack event, as printed while following."""

    timestamp: datetime
    logical_id: str
    resource_type: str
    status: str
    reason: str


class Deployer:
    """Change-set operations on one stack, handed its CloudFormation client."""

    def __init__(
        self,
        cloudformation,
        stack_name: str,
        *,
        poll_seconds: float = 2.0,
        heartbeat_seconds: float = 30.0,
        timeout_seconds: float = 3600.0,
        on_heartbeat: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[StackEvent], None] | None = None,
    ) -> None:
        self.cfn = cloudformation
        self.stack_name = stack_name
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.timeout_seconds = timeout_seconds
        self._on_heartbeat = on_heartbeat or (lambda line: LOG.info("%s", line))
        self.stack_id: str | None = None
        self._sleep = sleep
        self._clock = clock
        self._on_event = on_event or (lambda event: None)

    def _call(self, operation: str, **kwargs):
        with aws_call(operation, self.stack_name):
            return getattr(self.cfn, operation)(**kwargs)

    # -- state --------------------------------------------------------------

    def describe_stack(self) -> dict | None:
        """The stack, or None when it does not exist."""
        try:
            stack = self.cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
            self.stack_id = stack["StackId"]
            return stack
        except AWS_FAILURES as exc:
            if isinstance(exc, ClientError):
                error = exc.response.get("Error", {})
                if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
                    return None
            raise AwsError(describe_aws_error(exc, "describe_stacks", self.stack_name)) from exc

    def change_set_type(self, stack: dict | None) -> str:
        """CREATE for a new (or REVIEW_IN_PROGRESS) stack, UPDATE for a settled one."""
        status = stack["StackStatus"] if stack else None
        if status in CREATE_STATES:
            return "CREATE"
        if status in UPDATE_STATES:
            return "UPDATE"
        if status == "ROLLBACK_COMPLETE":
            raise StackStateError(
                f"{self.stack_name}: the stack is ROLLBACK_COMPLETE (its first creation failed) and cannot be "
                "updated; rerun with --delete-failed-stack to delete it and create it again"
            )
        if status.endswith("_IN_PROGRESS"):
            raise StackStateError(
                f"{self.stack_name}: the stack is busy ({status}); wait for it to settle, then rerun "
                f"(watch: aws cloudformation describe-stack-events --stack-name {self.stack_name})"
            )
        raise StackStateError(f"{self.stack_name}: the stack is {status}; {_STATE_ADVICE.get(status, _OTHER_STATE)}")

    def delete_failed_stack(self) -> None:
        """Delete a ROLLBACK_COMPLETE stack and wait until it is gone."""
        LOG.info("%s: deleting the ROLLBACK_COMPLETE stack", self.stack_name)
        since = self._newest_event_id()
        self._call("delete_stack", StackName=self.stack_id or self.stack_name)
        final = self.follow_stack(since)
        if final != "DELETE_COMPLETE":
            raise DeployFailed(f"{self.stack_name}: deleting the failed stack ended in {final}")
        self.stack_id = None

    # -- change sets -----------------------------------------------------------

    def create_change_set(
        self,
        template_body: str,
        parameters: dict[str, str],
        tags: dict[str, str],
        change_set_type: str,
        name: str | None = None,
    ) -> str:
        """Submit a change set; its ARN."""
        name = name or f"arda-mail-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        response = self._call(
            "create_change_set",
            StackName=self.stack_name,
            ChangeSetName=name,
            ChangeSetType=change_set_type,
            TemplateBody=template_body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            Description=CHANGE_SET_DESCRIPTION,
        )
        self.stack_id = response.get("StackId") or self.stack_id
        return response["Id"]

    def wait_for_change_set(self, change_set_id: str) -> list[ResourceChange]:
        """Poll until the change set is ready; its changes, or NoChanges / DeployFailed."""
        deadline = self._clock() + CHANGE_SET_TIMEOUT_SECONDS
        while True:
            response = self._call("describe_change_set", ChangeSetName=change_set_id)
            status = response["Status"]
            if status == "CREATE_COMPLETE":
                return self._changes(change_set_id, response)
            if status == "FAILED":
                reason = response.get("StatusReason", "")
                if any(text in reason for text in NO_CHANGES_REASONS):
                    raise NoChanges(f"{self.stack_name}: no changes; the stack already matches the template")
                raise DeployFailed(f"{self.stack_name}: the change set failed: {reason}")
            if self._clock() > deadline:
                raise DeployFailed(
                    f"{self.stack_name}: the change set is still {status} after {CHANGE_SET_TIMEOUT_SECONDS:.0f}s"
                )
            self._sleep(self.poll_seconds)

    def _changes(self, change_set_id: str, first_page: dict) -> list[ResourceChange]:
        changes, page = [], first_page
        while True:
            for change in page.get("Changes", []):
                rc = change.get("ResourceChange", {})
                changes.append(
                    ResourceChange(
                        action=rc.get("Action", ""),
                        logical_id=rc.get("LogicalResourceId", ""),
                        resource_type=rc.get("ResourceType", ""),
                        replacement=rc.get("Replacement", "") or "",
                    )
                )
            token = page.get("NextToken")
            if not token:
                return changes
            page = self._call("describe_change_set", ChangeSetName=change_set_id, NextToken=token)

    def delete_change_set(self, change_set_id: str) -> None:
        """Remove a change set that will not be executed."""
        self._call("delete_change_set", ChangeSetName=change_set_id)

    def delete_review_stack(self) -> None:
        """Remove the empty REVIEW_IN_PROGRESS stack a CREATE change set left behind.

        Only while it holds no other change set: a concurrent deploy's CREATE change
        set lives on the same REVIEW_IN_PROGRESS stack, and deleting the stack would
        delete that one too.
        """
        stack = self.describe_stack()
        if not stack or stack["StackStatus"] != "REVIEW_IN_PROGRESS":
            return
        others = self._call("list_change_sets", StackName=stack["StackId"]).get("Summaries", [])
        if others:
            LOG.warning(
                "%s: left the REVIEW_IN_PROGRESS stack in place: it holds %d other change set(s) (%s)",
                self.stack_name,
                len(others),
                ", ".join(o.get("ChangeSetName", "?") for o in others),
            )
            return
        self._call("delete_stack", StackName=stack["StackId"])

    def execute_change_set(self, change_set_id: str) -> str | None:
        """Start executing; the newest event ID before it, to follow from."""
        since = self._newest_event_id()
        self._call("execute_change_set", ChangeSetName=change_set_id)
        return since

    def stale_change_sets(self) -> list[dict]:
        """Change sets deploy.py made on this stack earlier and never executed."""
        if not self.stack_id:
            return []
        summaries = self._call("list_change_sets", StackName=self.stack_id).get("Summaries", [])
        return [
            s
            for s in summaries
            if s.get("Description") == CHANGE_SET_DESCRIPTION
            and s.get("ExecutionStatus") in ("AVAILABLE", "UNAVAILABLE")
            and s.get("Status") in ("CREATE_COMPLETE", "FAILED")
        ]

    # -- following ---------------------------------------------------------------

    def _events_target(self) -> str:
        return self.stack_id or self.stack_name

    def _newest_event_id(self) -> str | None:
        events = self._call("describe_stack_events", StackName=self._events_target()).get("StackEvents", [])
        return events[0]["EventId"] if events else None

    def _new_events(self, since: str | None, seen: set[str]) -> list[dict]:
        """Events after ``since`` not yet seen, oldest first (pages are newest first)."""
        fresh, token = [], None
        while True:
            kwargs = {"StackName": self._events_target(), **({"NextToken": token} if token else {})}
            page = self._call("describe_stack_events", **kwargs)
            for event in page.get("StackEvents", []):
                if event["EventId"] == since or event["EventId"] in seen:
                    return list(reversed(fresh))
                fresh.append(event)
            token = page.get("NextToken")
            if not token:
                return list(reversed(fresh))

    def _is_stack_end(self, event: dict) -> bool:
        return (
            event.get("ResourceType") == "AWS::CloudFormation::Stack"
            and event.get("LogicalResourceId") == self.stack_name
            and str(event.get("ResourceStatus", "")).endswith(TERMINAL_SUFFIXES)
            and "_IN_PROGRESS" not in str(event.get("ResourceStatus", ""))
        )

    def follow_stack(self, since: str | None, timeout_seconds: float | None = None) -> str:
        """Print events as they come until the stack's own terminal event; its status.

        One describe_stack_events call per poll. Raises FollowTimeout at the deadline.
        """
        deadline = self._clock() + (timeout_seconds or self.timeout_seconds)
        started = last_event_at = self._clock()
        seen: set[str] = set()
        last: StackEvent | None = None
        while True:
            events = self._new_events(since, seen)
            for event in events:
                seen.add(event["EventId"])
                last = StackEvent(
                    timestamp=event["Timestamp"],
                    logical_id=event.get("LogicalResourceId", ""),
                    resource_type=event.get("ResourceType", ""),
                    status=event.get("ResourceStatus", ""),
                    reason=event.get("ResourceStatusReason", "") or "",
                )
                self._on_event(last)
                if self._is_stack_end(event):
                    self._report_latency(last.status, [event])
                    return last.status
            now = self._clock()
            if events:
                last_event_at = now
            elif now - last_event_at >= self.heartbeat_seconds:
                latest = f"{last.status} {last.logical_id} at {last.timestamp:%H:%M:%S}" if last else "none yet"
                self._on_heartbeat(f"{self.stack_name}: still waiting after {now - started:.0f}s; last event: {latest}")
                last_event_at = now
            if now >= deadline:
                raise FollowTimeout(
                    f"{self.stack_name}: not settled after {now - started:.0f}s (--timeout); CloudFormation carries "
                    f"on: watch it with: aws cloudformation describe-stack-events --stack-name {self._events_target()}"
                )
            self._sleep(self.poll_seconds)

    def _report_latency(self, status: str, events: list[dict]) -> None:
        """Log how long after CloudFormation's own terminal event the command noticed it."""
        own = [e for e in events if e.get("LogicalResourceId") == self.stack_name and e.get("ResourceStatus") == status]
        if own:
            lag = (datetime.now(UTC) - own[-1]["Timestamp"]).total_seconds()
            if lag >= 0:  # a skewed local clock makes the figure meaningless
                LOG.info("%s: %s noticed %.2fs after CloudFormation reported it", self.stack_name, status, lag)

    def failed_events(self, since: str | None) -> list[StackEvent]:
        """Each resource that failed since ``since``, with CloudFormation's reason."""
        events = self._new_events(since, set())
        return [
            StackEvent(
                e["Timestamp"],
                e.get("LogicalResourceId", ""),
                e.get("ResourceType", ""),
                e["ResourceStatus"],
                e.get("ResourceStatusReason", "") or "",
            )
            for e in events
            if e.get("ResourceStatus", "").endswith("_FAILED")
        ]

    def exports(self, stack: dict | None = None) -> list[tuple[str, str]]:
        """(export name, value) of every exported output of the stack."""
        stack = stack or self.describe_stack() or {}
        return sorted((o["ExportName"], o["OutputValue"]) for o in stack.get("Outputs", []) if o.get("ExportName"))
