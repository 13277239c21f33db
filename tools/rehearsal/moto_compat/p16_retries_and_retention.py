"""Patch 16: retries (request tokens) and retention on rollback; (tests) an answer lost.

Retries and retention: moto ignores ``ClientToken`` and ``ClientRequestToken``,
executes an executed change set again, and ignores ``RetainExceptOnCreate``.
CloudFormation answers a retried request carrying the same token as the first; refuses
a second execution without it (``InvalidChangeSetStatus``) and a second change set of
the same name while the first is not executed (``AlreadyExistsException``); on rollback it keeps new resources whose
``DeletionPolicy`` is ``Retain`` unless ``RetainExceptOnCreate`` is true ("newly created
resources are deleted when the operation rolls back ... including resources marked with
a deletion policy of Retain"). Here all of it is so, and ``DescribeStacks`` reports the
executed change set's ``ChangeSetId`` (moto never did). For tests: ``CONTROLS.lose_answer`` holds API
actions whose next answer is lost after the server acted (a 500 the client retries).
"""

from __future__ import annotations

from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from tools.rehearsal.moto_compat import stacks
from tools.rehearsal.moto_compat.controls import CONTROLS
from tools.rehearsal.moto_compat.patching import wrap
from tools.rehearsal.moto_compat.protocol import action_of

LOST = (
    b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>lost</Message>"
    b"</Error><RequestId>lost</RequestId></ErrorResponse>"
)


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatus"


def find(backend, name_or_arn: str, stack_name: str | None):
    return stacks.find_change_set(backend.change_sets, name_or_arn, stack_name)


def execute_change_set(original, self):
    change_set = find(self.cloudformation_backend, self._get_param("ChangeSetName"), self._get_param("StackName"))
    token = self._get_param("ClientRequestToken")
    if change_set is not None:
        decision = stacks.execution(change_set.execution_status, token, getattr(change_set, "compat_token", None))
        if decision == "again":
            return EmptyResult()  # the same request again: CloudFormation answers it as before
        if decision == "refuse":
            raise InvalidChangeSetStatus(
                f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status of "
                f"[{change_set.execution_status}]"
            )
        change_set.compat_token = token
    with CONTROLS.executing(retain_except_on_create=self._get_param("RetainExceptOnCreate") in (True, "true")):
        answer = original(self)
    if change_set is not None:  # DescribeStacks' ChangeSetId: the change set the stack last executed
        stack = self.cloudformation_backend.stacks.get(change_set.stack_id)
        if stack is not None:
            stack.change_set_id = change_set.change_set_id
    return answer


def create_change_set(original, self):
    backend, name = self.cloudformation_backend, self._get_param("ChangeSetName")
    stack_name, token = self._get_param("StackName"), self._get_param("ClientToken")
    existing = find(backend, name, stack_name)
    decision = stacks.creation(
        None if existing is None else existing.execution_status, token, getattr(existing, "compat_client_token", None)
    )
    if decision == "again":
        return ActionResult({"Id": existing.change_set_id, "StackId": existing.stack_id})
    if decision == "refuse":
        raise AlreadyExistsException(f"ChangeSet {name} already exists")
    answer = original(self)
    created = find(backend, name, stack_name)
    if created is not None:
        created.compat_client_token = token
    return answer


def call(original, self, environ, start_response):
    if not CONTROLS.answer_lost(action_of(environ)):
        return original(self, environ, start_response)
    list(original(self, environ, lambda *a, **k: None))  # the server acts ...
    start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/xml"), ("Content-Length", str(len(LOST)))])
    return [LOST]  # ... and its answer is lost: the client sees a failure and retries


def install() -> None:
    wrap(CloudFormationResponse, "execute_change_set", execute_change_set)
    wrap(CloudFormationResponse, "create_change_set", create_change_set)
    wrap(DomainDispatcherApplication, "__call__", call)
