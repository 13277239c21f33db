"""Test-only patches for known CloudFormation gaps of moto (pinned: moto[server]==5.2.5).

The end-to-end deploy test runs ``python deploy.py`` as a subprocess against a moto
server that lives in the pytest process, so patching moto's classes here changes
what that server does. The product code is never bent to suit moto; each patch
makes moto behave the way CloudFormation does, for one documented gap:

1. ``GetAtt <zone>.NameServers`` is not implemented for ``AWS::Route53::HostedZone``.
2. ``Custom::`` resources are run by invoking the Lambda in Docker, which this
   machine does not have, and moto never sends them Update or Delete. Here the
   resource runs the real delegation handler (``templates/ns_delegation_handler.py``,
   the same source the template inlines) in-process against the same moto server
   for Create, Update (with ``OldResourceProperties``) and Delete (when the stack
   or the resource goes), as CloudFormation's custom resource protocol does
   (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requesttypes.html).
   A failed request fails the resource. Simplification: when an Update returns a
   new physical ID, the old one's Delete runs at once instead of in the cleanup phase.
3. ``AWS::SecretsManager::Secret`` has no CloudFormation model: the resource is
   skipped and ``Ref`` yields nothing useful. A minimal model creates the secret in
   moto's Secrets Manager (``SecretString`` or ``GenerateSecretString``).
4. Executing a change set does not compute the stack's outputs or register its
   exports: they are recomputed after execution.
5. Updating one ``AWS::Route53::RecordSet`` deletes every record of that name
   (e.g. the zone's own NS/SOA and the SPF TXT at the apex): it deletes by name and
   type here, as Route 53 does.
6. ``CreateChangeSet`` with an unchanged template and parameters raises
   ``ValidationError: No updates are to be performed.`` at once, where
   CloudFormation creates a FAILED change set ("The submitted information didn't
   contain changes."). The early raise is removed so moto's own FAILED-change-set
   path answers, as CloudFormation does.
7. ``AWS::Route53::RecordSet`` creation appends a second record set when one of the
   same name and type exists, and stores the name without Route 53's trailing dot
   (so a later API UPSERT of that name adds a duplicate). Route 53 refuses a CREATE of an existing record set
   (``InvalidChangeBatch: Tried to create resource record set [name='…', type='…']
   but it already exists``, see the ChangeResourceRecordSets API reference), and
   CloudFormation creates record sets with CREATE, so the resource fails. Here it
   fails the same way.
8. Change sets ignore Conditions and run in the wrong order. moto lists and
   creates resources whose condition is false, ignores parameter-only changes in
   the change set's list, executes Removes *before* Adds, and has no rollback
   ("TODO: handle execution errors and implement rollback"). CloudFormation
   (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html
   and the stack status codes of ``troubleshooting``/``stack-resource-statuses``)
   works on the resources whose condition holds: a condition turning true adds the
   resource, turning false removes it; it creates and updates first, and deletes
   removed resources and replaced physical resources only afterwards, in
   ``UPDATE_COMPLETE_CLEANUP_IN_PROGRESS``. A record set whose ``Name``, ``Type``
   or zone changes is replaced: the new one is created, the old one deleted in
   cleanup. When a resource fails, the stack rolls back (``UPDATE_ROLLBACK_COMPLETE``,
   or ``ROLLBACK_COMPLETE`` for a creation) with the resource's ``*_FAILED`` event
   and its reason, and nothing of the update remains. Here the change set's list,
   its execution order, the rollback and those events follow CloudFormation.
   A rollback deletes what the failed update or creation added, except resources with
   ``DeletionPolicy: Retain`` (patch 16).

9. Stack protections: moto has no ``UpdateTerminationProtection``, deletes a stack
   whose termination protection is on, and ``ListChangeSets`` ignores ``StackName``
   (every change set of the region comes back). CloudFormation refuses
   ``DeleteStack`` with "Stack [name] cannot be deleted while TerminationProtection
   is enabled" and lists only the named stack's change sets; so do these patches.
   ``AWS::SecretsManager::Secret`` (patch 3) is deleted with its stack unless retained.
   (Drift detection: patch 18.)
10. Timing, for tests only: ``CONTROLS.slow_execution`` seconds (``math.inf``: never) keeps an
   executed change set's stack ``*_IN_PROGRESS`` that long before its events and final
   status appear, as a slow custom resource or replacement would on AWS.
11. Holding a request, for tests only: ``CONTROLS.hold(action)`` makes the server wait, on the
   first request for that API action (``DescribeChangeSet``, ``DeleteStack``, ...),
   until the test calls ``CONTROLS.release()``; ``CONTROLS.wait_for(action)`` returns once such a
   request arrived. A test can so stop a deploy with a signal at exactly one step,
   with the AWS side in a known state. ``hold(action, when="after")`` holds it once the
   server acted, its answer not yet sent. ``CONTROLS.seen`` lists every action received.
12. A CREATE change set for a stack that is already ``REVIEW_IN_PROGRESS`` makes a
   second stack of the same name in moto; CloudFormation keeps the one stack (its
   StackId) and adds the change set to it, and refuses a CREATE change set for a
   stack that exists in any other state (``AlreadyExistsException``). Here it does both,
   so a deploy after a change set left for review follows the stack it executes.
13. A hosted zone created from a template: moto drops its ``HostedZoneTags`` and names it
   without the trailing dot, so ``ListHostedZonesByName`` never finds it. Route 53 tags the
   zone (``ListTagsForResource`` shows them, with the stack's tags CloudFormation propagates)
   and always names zones fully qualified, and refuses more than 10 tags on a zone; moto
   never deletes a template zone (a stack deletion or a rollback leaves it). Here all of
   it is as Route 53 and CloudFormation do it.
14. IAM: moto allows every request (its own enforcement passes Resource ``*`` for
   Route 53 and evaluates almost no condition keys). Here every request is authorised
   by ``iam_world`` against the caller's policies, the resources AWS authorises the
   operation on and the condition keys this project uses; CloudFormation creates,
   updates and deletes template resources with its caller's permissions (a refusal
   fails the resource, the stack rolls back, a deletion ends ``DELETE_FAILED``); the
   custom resource's function runs with its execution role's credentials (so a stack's
   resources are deleted dependents first, as CloudFormation does, not in moto's set
   order); and
   ``iam:SimulatePrincipalPolicy`` (not in moto) answers from the same evaluator. moto's
   policy validator refuses a policy variable as a whole ``Resource``
   (``${aws:PrincipalArn}``), which IAM accepts: here it is accepted.

15. Exports in use: moto has no ``ListImports`` and deletes a stack whose exports another
   stack imports. CloudFormation (``Fn::ImportValue``: "you can't delete a stack if another
   stack references one of its outputs") refuses: the deletion ends ``DELETE_FAILED`` naming
   the importing stack; ``ListImports`` names the importers, or answers ValidationError "Export
   '<name>' is not imported by any stack." Here both are so (imports written literally).

16. Retries and retention: moto ignores ``ClientToken`` and ``ClientRequestToken``,
   executes an executed change set again, and ignores ``RetainExceptOnCreate``.
   CloudFormation answers a retried request carrying the same token as the first; refuses
   a second execution without it (``InvalidChangeSetStatus``) and a second change set of
   the same name while the first is not executed (``AlreadyExistsException``); on rollback it keeps new resources whose
   ``DeletionPolicy`` is ``Retain`` unless ``RetainExceptOnCreate`` is true ("newly created
   resources are deleted when the operation rolls back ... including resources marked with
   a deletion policy of Retain"). Here all of it is so, and ``DescribeStacks`` reports the
   executed change set's ``ChangeSetId`` (moto never did). For tests: ``CONTROLS.lose_answer`` holds API
   actions whose next answer is lost after the server acted (a 500 the client retries).

17. Route 53 change batches: moto takes any number of records and characters in one
   ``ChangeResourceRecordSets`` and accepts a DELETE only for a record set it has a change
   journal for (not one CloudFormation created, nor one "someone" wrote another way).
   Route 53 ("Quotas"): at most 1,000 ``ResourceRecord`` elements and 32,000 characters of
   ``Value`` per request, an UPSERT counting twice; a DELETE of any existing record set
   given its exact TTL and values, refused otherwise ("... but it was not found", "... but
   the values provided do not match the current values"). Here all of it is so. moto's
   SOA value is a printed Python dict; here it is Route 53's
   (``<primary name server>. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400``).

18. Drift detection: moto has none (``DetectStackDrift`` answered an HTML 500). Here
   ``DetectStackDrift``, ``DescribeStackDriftDetectionStatus`` and
   ``DescribeStackResourceDrifts`` answer from the world's own resources: record sets
   against Route 53 (values and TTL; DELETED when gone), IAM roles against IAM (trust and
   inline policies), custom resources NOT_CHECKED, other types IN_SYNC. Detection
   completes at once; ``CONTROLS.drift_check_fails`` (tests) makes resources fail their check,
   so the detection ends ``DETECTION_FAILED`` with partial results, as CloudFormation's can.
   moto's role update kept the old trust and inline policies (drift detection would have
   called every accepted IAM change drift): here an update applies them.

Deliberately not patched: moto returns NoEcho parameter values in clear text from
``DescribeStacks``. Leaving that in makes the token-leak assertions stricter: if
deploy.py ever printed stack parameters, the token would show up and fail them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Literal

_applied = False
# Patch 13: Route 53's limit of tags on one hosted zone.
MAX_ZONE_TAGS = 10

HOLD_LIMIT_SECONDS = 120.0  # a held request goes on by itself after this long (a test that never released it)


@dataclass(eq=False)
class Hold:
    """One held request: the first for ``action`` (after one for ``after``, when given).

    ``when="before"`` holds it before the server acts; ``when="after"`` once the server
    acted, before the answer is sent (a test can so signal the client after AWS acted
    and before the client read the answer).
    """

    action: str
    after: str | None = None
    when: Literal["before", "after"] = "before"
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    taken: bool = False  # a request is (or was) held: no other one is

    def wait(self) -> None:
        """Mark the request arrived, then wait until the test releases it."""
        self.arrived.set()
        self.released.wait(HOLD_LIMIT_SECONDS)


@dataclass(eq=False)
class Controls:
    """Every switch the patches read (one instance: ``CONTROLS``)."""

    slow_execution: float = 0.0
    """Patch 10: seconds an executed change set stays ``*_IN_PROGRESS`` (0: at once; ``math.inf``: never)."""
    lose_answer: set[str] = field(default_factory=set)
    """Patch 16: API actions whose next answer is lost after the server acted (a 500 the client retries)."""
    drift_check_fails: dict[str, str] = field(default_factory=dict)
    """Patch 18: logical IDs whose drift check fails (the detection ends DETECTION_FAILED), with the reason."""
    seen: list[str] = field(default_factory=list)
    """Patch 11: every API action the server received, in order."""
    _hold: Hold | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _execution: threading.local = field(default_factory=threading.local, repr=False)

    # -- for tests ---------------------------------------------------------------------------------

    def hold(self, action: str, after: str | None = None, when: Literal["before", "after"] = "before") -> None:
        """Hold the next request for ``action`` (e.g. ``DescribeChangeSet``) until ``release()``.

        With ``after``, only a request for ``action`` that comes after one for ``after``
        (e.g. the first ``DescribeStackEvents`` after ``ExecuteChangeSet``). ``when``: before
        the server acts on it (the default) or after, with its answer not yet sent. A
        hold replaces the one before it, which is released.
        """
        if when not in ("before", "after"):
            raise ValueError(f"when is 'before' or 'after', not {when!r}")
        with self._lock:
            if self._hold is not None:
                self._hold.released.set()
            self._hold = Hold(action, after, when)

    def wait_for(self, action: str, timeout: float = 60.0) -> bool:
        """Whether the held request for ``action`` arrived within ``timeout`` seconds."""
        held = self._hold
        return held is not None and held.action == action and held.arrived.wait(timeout)

    def release(self) -> None:
        """Let a held request go on, and hold nothing more."""
        with self._lock:
            if self._hold is not None:
                self._hold.released.set()
            self._hold = None

    def reset(self) -> None:
        """Every switch as it starts: nothing held, slow, lost or failing; nothing seen."""
        self.release()
        self.slow_execution = 0.0
        self.lose_answer.clear()
        self.drift_check_fails.clear()
        self.seen.clear()

    # -- for the patches -----------------------------------------------------------------------------

    def arrive(self, action: str) -> Hold | None:
        """A request for ``action`` arrived (patch 11): the hold it must honour, if it is the held one."""
        self.seen.append(action)
        with self._lock:
            held = self._hold
            if held is None or held.taken or not action:
                return None
            if held.after is not None:
                if action == held.after:
                    held.after = None  # armed: the next request for the held action waits
                return None
            if action != held.action:
                return None
            held.taken = True
            return held

    def answer_lost(self, action: str) -> bool:
        """Whether this request's answer is lost (patch 16): once per action put in ``lose_answer``."""
        with self._lock:
            if action not in self.lose_answer:
                return False
            self.lose_answer.discard(action)
            return True

    @contextmanager
    def executing(self, *, retain_except_on_create: bool) -> Iterator[None]:
        """The change set execution running in this thread (patch 16), as its request asked."""
        self._execution.retain_except_on_create = retain_except_on_create
        try:
            yield
        finally:
            self._execution.retain_except_on_create = False

    @property
    def retain_except_on_create(self) -> bool:
        """Whether the execution running in this thread deletes new retained resources on rollback (patch 8)."""
        return getattr(self._execution, "retain_except_on_create", False)


CONTROLS = Controls()


def apply() -> None:
    """Install every patch once (idempotent)."""
    global _applied
    if _applied:
        return
    _applied = True
    _iam()  # first: the later patches bind the wrapped CloudFormation parsing functions
    _zone_name_servers()
    _custom_resources()
    _secrets()
    _outputs_after_change_set()
    _record_set_update_by_type()
    _empty_change_set_is_failed_not_raised()
    _record_set_create_refuses_existing()
    _change_sets_like_cloudformation()
    _stack_protections()
    _slow_execution()
    _holds()
    _one_stack_per_name()
    _hosted_zone_tags()
    _imports()
    _retries_and_retention()
    _route53_change_batches()
    _drift_detection()


def _members(query: dict, prefix: str, field: str = "") -> list[str]:
    """A query-protocol list (``Prefix.member.N[.Field]``) in N's order; ``field`` names a structure's member."""
    found = []
    for key, value in query.items():
        if not key.startswith(f"{prefix}.member."):
            continue
        number, _, rest = key[len(prefix) + len(".member.") :].partition(".")
        if number.isdigit() and rest == field:
            found.append((int(number), value[0] if isinstance(value, list) else value))
    return [value for _, value in sorted(found)]


def _iam() -> None:
    from moto.cloudformation import parsing
    from moto.cloudformation.models import CloudFormationBackend
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.responses import IamResponse
    from werkzeug.exceptions import HTTPException

    from tools.rehearsal import iam_world

    class Refused(HTTPException):
        def __init__(self, code: int, body: str) -> None:
            super().__init__(description=body)
            self.code = code

    def refusal(service: str, message: str) -> Refused:
        from xml.sax.saxutils import escape

        if service in ("secretsmanager", "lambda", "logs"):
            return Refused(400, json.dumps({"__type": "AccessDeniedException", "Message": message}))
        namespace = ' xmlns="https://route53.amazonaws.com/doc/2013-04-01/"' if service == "route53" else ""
        return Refused(
            403,
            f"<ErrorResponse{namespace}><Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>rehearsal</RequestId></ErrorResponse>",
        )

    def authorize(self, resource: str = "*") -> None:
        try:
            iam_world.check_request(self)
        except iam_world.AccessDenied as denied:
            service = self.headers.get("Authorization", "").split("/")[3:4] or [""]
            raise refusal(service[0], str(denied)) from None

    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authorize

    # A policy variable as the whole Resource ("${aws:PrincipalArn}") is valid IAM (IAM User
    # Guide, "IAM policy elements: Variables and tags"); moto's validator refuses it as a bad ARN.
    from moto.iam.policy_validation import BaseIAMPolicyValidator

    validate_resource = BaseIAMPolicyValidator._validate_resource_format

    def _validate_resource_format(self, resource: str) -> None:
        if not (resource.startswith("${") and resource.endswith("}")):
            validate_resource(self, resource)

    BaseIAMPolicyValidator._validate_resource_format = _validate_resource_format
    legacy_parse = BaseIAMPolicyValidator._legacy_parse_resource_like

    def _legacy_parse_resource_like(statement, key) -> None:
        value = statement[key]
        kept = [r for r in ([value] if isinstance(value, str) else value) if not str(r).startswith("${")]
        if kept:
            legacy_parse({**statement, key: kept}, key)

    BaseIAMPolicyValidator._legacy_parse_resource_like = staticmethod(_legacy_parse_resource_like)

    # CloudFormation acts with its caller's permissions.
    create, update, delete_resource = (
        parsing.parse_and_create_resource,
        parsing.parse_and_update_resource,
        parsing.ResourceMap._delete_resource,
    )

    def _resolved(resource_json: dict, resources_map) -> dict:
        return parsing.clean_json(resource_json.get("Properties", {}) or {}, resources_map)

    def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
        condition = resource_json.get("Condition")
        if not (condition and not resources_map.lazy_condition_map[condition]):
            props = _resolved(resource_json, resources_map)
            name_property = parsing.resource_name_property_from_type(resource_json["Type"])
            physical = props.get(name_property) if name_property else None
            physical = physical or parsing.generate_resource_name(
                resource_json["Type"], resources_map["AWS::StackName"], logical_id
            )
            iam_world.check_handler(resource_json["Type"], "create", props, str(physical), account_id, region_name)
        return create(logical_id, resource_json, resources_map, account_id, region_name)

    def parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name):
        original = resources_map._parsed_resources.get(logical_id)
        physical = getattr(original, "physical_resource_id", "") or ""
        props = _resolved(resource_json, resources_map)
        iam_world.check_handler(resource_json["Type"], "update", props, str(physical), account_id, region_name)
        return update(logical_id, resource_json, resources_map, account_id, region_name)

    def _delete_resource(self, parsed_resource, resource_json):
        physical = getattr(parsed_resource, "physical_resource_id", "") or ""
        props = _resolved(resource_json, self) if resource_json else {}
        iam_world.check_handler(
            resource_json["Type"], "delete", props, str(physical), self._account_id, self._region_name
        )
        return delete_resource(self, parsed_resource, resource_json)

    def delete(self) -> None:
        # Dependents first (the reverse of creation order): the custom resource's Delete
        # runs while its function and the function's role still exist, as on AWS. moto
        # deletes in set order and retries failures, so the function could go first.
        for name in reversed(list(self._parsed_resources)):
            resource_json = self._resource_json_map.get(name) or {}
            parsed = self._parsed_resources[name]
            if resource_json.get("DeletionPolicy") != "Retain" and parsed is not None and not isinstance(parsed, str):
                self._delete_resource(parsed, resource_json)
            self._parsed_resources.pop(name)

    parsing.parse_and_create_resource = parse_and_create_resource
    parsing.parse_and_update_resource = parse_and_update_resource
    parsing.ResourceMap._delete_resource = _delete_resource
    parsing.ResourceMap.delete = delete

    # A deletion CloudFormation may not finish ends DELETE_FAILED; the stack stays.
    delete_stack = CloudFormationBackend.delete_stack

    def delete_stack_as_caller(self, name_or_stack_id: str) -> None:
        stacks = dict(self.stacks)
        try:
            delete_stack(self, name_or_stack_id)
        except iam_world.HandlerAccessDenied as denied:
            for stack_id, stack in stacks.items():
                if name_or_stack_id in (stack_id, stack.name) and stack_id not in self.stacks:
                    self.stacks[stack_id] = stack
                    self.deleted_stacks.pop(stack_id, None)
                    stack._add_stack_event("DELETE_FAILED", resource_status_reason=str(denied))
                    stack.status = "DELETE_FAILED"

    CloudFormationBackend.delete_stack = delete_stack_as_caller

    # iam:SimulatePrincipalPolicy, answered by the same evaluator (moto has none).
    def simulate_principal_policy(self):
        from moto.core.responses import ActionResult
        from moto.iam.exceptions import NotFoundException

        query = self.querystring
        source = self._get_param("PolicySourceArn") or ""
        actions = _members(query, "ActionNames")
        resources = _members(query, "ResourceArns") or ["*"]
        names = _members(query, "ContextEntries", field="ContextKeyName")
        context = {
            name: _members(query, f"ContextEntries.member.{n}.ContextKeyValues") for n, name in enumerate(names, 1)
        }
        try:
            results = iam_world.simulate(source, actions, resources, context)
        except LookupError as missing:
            raise NotFoundException(str(missing)) from None
        answer = [{"EvalActionName": a, "EvalResourceName": resources[0], "EvalDecision": d} for a, d in results]
        return ActionResult({"EvaluationResults": answer, "IsTruncated": False})

    IamResponse.simulate_principal_policy = simulate_principal_policy


def _zone_name_servers() -> None:
    from moto.route53.models import FakeZone

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "NameServers":
            return list(self.delegation_set.name_servers)
        if attribute_name == "Id":
            return self.id
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    FakeZone.has_cfn_attr = classmethod(lambda cls, attr: attr in ("Id", "NameServers"))
    FakeZone.get_cfn_attribute = get_cfn_attribute


def _custom_resources() -> None:
    import boto3
    from moto.cloudformation import custom_model
    from moto.cloudformation.custom_model import CustomModel

    from templates import ns_delegation_handler

    def run(event: dict) -> tuple[str, dict]:
        # CloudFormation hands custom resources their properties as strings.
        for key in ("ResourceProperties", "OldResourceProperties"):
            if key in event:
                event[key] = json.loads(json.dumps(event[key], default=str))
        from tools.rehearsal import iam_world

        stack_id = event["StackId"]
        account, region = stack_id.split(":")[4], stack_id.split(":")[3]
        token = event["ResourceProperties"]["ServiceToken"]
        session = boto3.Session(**iam_world.function_role_credentials(token, account, region))
        return ns_delegation_handler.handle(event, session, remaining_seconds=60)

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.awslambda.utils import get_backend as get_lambda_backend
        from moto.cloudformation import cloudformation_backends

        properties = cloudformation_json["Properties"]
        get_lambda_backend(account_id, region_name).get_function(properties["ServiceToken"])  # must exist
        resource = CustomModel(region_name, "compat", kwargs["LogicalId"], resource_name)
        stack = cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"])
        stack.add_custom_resource(resource)
        resource.compat_event = {
            "ResponseURL": "http://127.0.0.1:9/unused",
            "StackId": kwargs["StackId"],
            "RequestId": "compat",
            "LogicalResourceId": kwargs["LogicalId"],
            "ResourceType": kwargs["ResourceType"],
        }
        physical_id, data = run({**resource.compat_event, "RequestType": "Create", "ResourceProperties": properties})
        resource.resource_name = physical_id
        resource.compat_properties = properties
        resource.set_data(data)
        return resource

    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        properties = cloudformation_json["Properties"]
        old_id = original_resource.resource_name
        physical_id, data = run(
            {
                **original_resource.compat_event,
                "RequestType": "Update",
                "PhysicalResourceId": old_id,
                "ResourceProperties": properties,
                "OldResourceProperties": original_resource.compat_properties,
            }
        )
        if physical_id != old_id:  # a replacement: CloudFormation deletes the old one in cleanup
            original_resource.delete(account_id, region_name)
        original_resource.resource_name = physical_id
        original_resource.compat_properties = properties
        original_resource.set_data(data)
        return original_resource

    def delete(self, account_id, region_name):
        run(
            {
                **self.compat_event,
                "RequestType": "Delete",
                "PhysicalResourceId": self.resource_name,
                "ResourceProperties": self.compat_properties,
            }
        )

    CustomModel.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    CustomModel.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)
    CustomModel.delete = delete
    custom_model.CustomModel = CustomModel


def _secrets() -> None:
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class CompatSecret(CloudFormationModel):
        """AWS::SecretsManager::Secret, enough for Ref (the ARN) and deletion."""

        def __init__(self, arn: str, name: str) -> None:
            self.arn = arn
            self.name = name

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SecretsManager::Secret"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
            props = cloudformation_json.get("Properties", {})
            backend = secretsmanager_backends[account_id][region_name]
            if "SecretString" in props:
                value = props["SecretString"]
            else:
                spec = props.get("GenerateSecretString", {})
                password = backend.get_random_password(
                    password_length=int(spec.get("PasswordLength", 32)),
                    exclude_characters=spec.get("ExcludeCharacters", ""),
                    exclude_numbers=False,
                    exclude_punctuation=bool(spec.get("ExcludePunctuation", False)),
                    exclude_uppercase=False,
                    exclude_lowercase=False,
                    include_space=False,
                    require_each_included_type=True,
                )
                password = json.loads(password)["RandomPassword"]
                document = json.loads(spec.get("SecretStringTemplate", "{}"))
                document[spec.get("GenerateStringKey", "password")] = password
                value = json.dumps(document)
            secret = backend.create_secret(
                name=resource_name,
                secret_string=value,
                secret_binary=None,
                description=props.get("Description"),
                tags=props.get("Tags", []),
                kms_key_id=None,
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
            return cls(json.loads(secret)["ARN"], resource_name)

        @classmethod
        def update_from_cloudformation_json(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        ):
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            return None

        def delete(self, account_id, region_name):
            secretsmanager_backends[account_id][region_name].delete_secret(
                secret_id=self.arn, recovery_window_in_days=None, force_delete_without_recovery=True
            )

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    assert parsing.get_model_map()["AWS::SecretsManager::Secret"] is CompatSecret


def _outputs_after_change_set() -> None:
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        for stack in self.stacks.values():
            if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
                stack._parse_template()
                stack.output_map = stack._create_output_map()
                for export in stack.exports:
                    self.exports[export.name] = export

    CloudFormationBackend.execute_change_set = execute_change_set


def _record_set_update_by_type() -> None:
    from moto.route53.models import RecordSet

    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    RecordSet.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)


def _empty_change_set_is_failed_not_raised() -> None:
    from moto.cloudformation.responses import CloudFormationResponse

    original_validate = CloudFormationResponse._validate_different_update
    original_create = CloudFormationResponse.create_change_set

    def validate_different_update(self, incoming_params, stack_body, old_stack):
        if getattr(self, "_compat_creating_change_set", False):
            return None
        return original_validate(self, incoming_params, stack_body, old_stack)

    def create_change_set(self):
        self._compat_creating_change_set = True
        try:
            return original_create(self)
        finally:
            self._compat_creating_change_set = False

    CloudFormationResponse._validate_different_update = validate_different_update
    CloudFormationResponse.create_change_set = create_change_set


class RecordSetExists(Exception):
    """Route 53's InvalidChangeBatch for a CREATE of an existing record set."""


def _same_name(a: str, b: str) -> bool:
    return a.lower().rstrip(".") == b.lower().rstrip(".")


def _record_set_create_refuses_existing() -> None:
    from moto.route53.models import RecordSet

    original = RecordSet.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.route53.models import route53_backends
        from moto.utilities.utils import get_partition

        # Route 53 keeps names fully qualified; moto kept CloudFormation's without the dot, so an
        # API UPSERT of the same name added a second record set instead of replacing it.
        properties = {**cloudformation_json["Properties"]}
        properties["Name"] = properties["Name"].rstrip(".") + "."
        cloudformation_json = {**cloudformation_json, "Properties": properties}
        backend = route53_backends[account_id][get_partition(region_name)]
        zone_name = properties.get("HostedZoneName")
        zone = backend.get_hosted_zone_by_name(zone_name) if zone_name else None
        zone = zone or backend.get_hosted_zone(properties["HostedZoneId"])
        for existing in zone.rrsets:
            if (
                _same_name(existing.name, properties["Name"])
                and existing.type == properties["Type"]
                and existing.set_identifier == properties.get("SetIdentifier")
            ):
                name = properties["Name"].rstrip(".") + "."
                raise RecordSetExists(
                    f"[Tried to create resource record set [name='{name}', type='{properties['Type']}'] "
                    "but it already exists]"
                )
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    RecordSet.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


class StackOperationFailed(Exception):
    """A resource failed during a change set's execution; the stack was rolled back."""

    def __init__(self, logical_id: str, resource_type: str, status: str, reason: str) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.status = status
        self.reason = reason
        self.rollback_failures: list[tuple[str, str, str]] = []  # (logical ID, type, reason)


def _condition_holds(resource_json: dict, conditions) -> bool:
    condition = resource_json.get("Condition")
    return not condition or bool(conditions[condition])


def _resolve_simple(value, parameters: dict):
    """Ref to a parameter and Fn::Join, enough to compare a record's Name/Type; None if not simple."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters.get(value["Ref"])
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        resolved = [_resolve_simple(part, parameters) for part in parts]
        return None if any(r is None for r in resolved) else separator.join(resolved)
    return None


def _record_replaced(old_json: dict, new_json: dict, old_params: dict, new_params: dict) -> bool:
    """Whether an AWS::Route53::RecordSet update replaces it (its Name, Type or zone changes)."""
    if new_json.get("Type") != "AWS::Route53::RecordSet":
        return False
    old_props, new_props = old_json.get("Properties", {}), new_json.get("Properties", {})
    for key in ("Name", "Type"):
        old = _resolve_simple(old_props.get(key), old_params)
        new = _resolve_simple(new_props.get(key), new_params)
        if old is None or new is None or not _same_name(old, new):
            return True
    return old_props.get("HostedZoneId") != new_props.get("HostedZoneId")


def _plan(resource_map, template: dict, parameters: dict | None):
    """CloudFormation's view of an update: Add / Modify / Remove among resources whose condition holds."""
    from moto.cloudformation.parsing import ResourceMap, get_references_from_template

    new_map = ResourceMap(
        resource_map.stack_id,
        resource_map["AWS::StackName"],
        parameters if parameters is not None else resource_map.input_parameters,
        resource_map.tags,
        region_name=resource_map._region_name,
        account_id=resource_map._account_id,
        template=template,
        cross_stack_resources=resource_map.cross_stack_resources,
    )
    new_map.load_mapping()
    new_map.load_parameters()
    new_map.load_conditions()
    old_json = resource_map._resource_json_map
    new_json = template.get("Resources", {})
    old_live = {n for n, j in old_json.items() if _condition_holds(j, resource_map.lazy_condition_map)}
    new_live = [n for n, j in new_json.items() if _condition_holds(j, new_map.lazy_condition_map)]
    old_params, new_params = resource_map.resolved_parameters, new_map.resolved_parameters
    changed = {p for p in set(old_params) | set(new_params) if old_params.get(p) != new_params.get(p)}
    adds = [n for n in new_live if n not in old_live]
    removes = [n for n in old_json if n in old_live and n not in new_live]
    modifies, replaced = [], set()
    for name in new_live:
        if name in old_live and (
            new_json[name] != old_json[name] or changed & set(get_references_from_template(new_json[name]))
        ):
            modifies.append(name)
            if _record_replaced(old_json[name], new_json[name], old_params, new_params):
                replaced.add(name)
    return adds, modifies, removes, replaced


def _change_sets_like_cloudformation() -> None:
    from moto.cloudformation import models
    from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Event
    from moto.cloudformation.parsing import ResourceMap, parse_and_update_resource

    def diff(self):
        adds, modifies, removes, replaced = _plan(self.stack.resource_map, self.template_dict, self.parameters)
        new_json = self.template_dict.get("Resources", {})
        old_json = self.stack.resource_map._resource_json_map
        changes = []
        for action, names in (("Add", adds), ("Modify", modifies), ("Remove", removes)):
            for name in names:
                change = models.Change(
                    action=action,
                    logical_resource_id=name,
                    resource_type=(new_json.get(name) or old_json[name])["Type"],
                )
                if action == "Modify":
                    change.replacement = "True" if name in replaced else "False"
                changes.append(change)
        return changes

    def event(self, logical_id, resource_type, status, reason=None, physical_id=""):
        self.stack_events.append((logical_id, resource_type, status, reason, physical_id))

    def update(self, template, parameters=None):
        adds, modifies, removes, replaced = _plan(self, template, parameters)
        saved = (
            self._template,
            self._resource_json_map,
            dict(self.input_parameters),
            dict(self.resolved_parameters),  # copies: loading the new parameters mutates them
            dict(self._parsed_resources),
        )
        old_json = self._resource_json_map
        self.stack_events = []
        self._template = template
        if parameters is not None:
            self.input_parameters = parameters
        self.load_mapping()
        self.load_parameters()
        self.load_conditions()
        self._resource_json_map = template["Resources"]
        done_modifies, superseded = [], []
        current, status = None, None
        try:
            for name in adds:
                current, status = name, "CREATE_FAILED"
                _ = self[name]  # created now, or already as a dependency of an earlier one
                event(self, name, template["Resources"][name]["Type"], "CREATE_COMPLETE")
            for name in modifies:
                current, status = name, "UPDATE_FAILED"
                resource_json = self._resource_json_map[name]
                original = self._parsed_resources.get(name)
                if name in replaced:
                    self._parsed_resources.pop(name, None)
                    new = self[name]
                    superseded.append((original, old_json[name]))
                else:
                    new = parse_and_update_resource(
                        name, resource_json, self, account_id=self._account_id, region_name=self._region_name
                    )
                if new is not None:
                    self._parsed_resources[name] = new
                done_modifies.append((name, original))
                event(self, name, resource_json["Type"], "UPDATE_COMPLETE")
        except Exception as exc:  # noqa: BLE001 - any resource failure fails the stack, as on AWS
            failed_type = (template["Resources"].get(current) or old_json[current])["Type"]
            event(self, current, failed_type, status, str(exc))
            failure = StackOperationFailed(current, failed_type, status, str(exc))
            failure.rollback_failures = _roll_back(self, saved, adds, done_modifies, replaced, old_json)
            raise failure from None
        # Cleanup: removed resources and replaced physical resources go last.
        for name in removes:
            resource = saved[4].get(name)
            if resource is not None and not isinstance(resource, str):
                self._delete_resource(resource, old_json[name])
            self._parsed_resources.pop(name, None)
            event(self, name, old_json[name]["Type"], "DELETE_COMPLETE")
        for resource, resource_json in superseded:
            if resource is not None:
                self._delete_resource(resource, resource_json)

    def _roll_back(self, saved, adds, done_modifies, replaced, old_json):
        """Undo the failed operation; the resources whose undoing failed (a rollback acts as the caller too)."""
        from tools.rehearsal.iam_world import HandlerAccessDenied

        failures = []

        def undo(name, action) -> None:
            try:
                action()
            except HandlerAccessDenied as denied:
                resource_type = (self._resource_json_map.get(name) or old_json.get(name) or {}).get("Type", "")
                failures.append((name, resource_type, str(denied)))

        template, json_map, input_parameters, resolved_parameters, parsed = saved
        added = [n for n in self._parsed_resources if n not in parsed]
        delete_retained = CONTROLS.retain_except_on_create
        for name in reversed(added):
            resource = self._parsed_resources.pop(name)
            retained = (self._resource_json_map.get(name) or {}).get("DeletionPolicy") == "Retain"
            if retained and not delete_retained:
                continue  # DeletionPolicy Retain: the new resource stays, outside any stack (patch 16)
            if resource is not None and not isinstance(resource, str):
                undo(name, lambda r=resource, n=name: self._delete_resource(r, self._resource_json_map[n]))
        for name, original in done_modifies:
            if name in replaced:
                resource = self._parsed_resources.get(name)
                if resource is not None and resource is not original:
                    undo(name, lambda r=resource, n=name: self._delete_resource(r, self._resource_json_map[n]))
        # Back to the state before the update: parameters as they were resolved then (a
        # creation's empty template has no Parameters section to resolve them again).
        self._template = template
        self._resource_json_map = json_map
        self.input_parameters = input_parameters
        self.resolved_parameters = resolved_parameters
        self._parsed_resources = dict(parsed)
        self.load_conditions()
        for name, original in done_modifies:
            if name not in replaced and original is not None:
                restored = []
                undo(
                    name,
                    lambda n=name, restored=restored: restored.append(
                        parse_and_update_resource(
                            n, old_json[n], self, account_id=self._account_id, region_name=self._region_name
                        )
                    ),
                )
                self._parsed_resources[name] = restored[0] if restored and restored[0] is not None else original
        return failures

    original_execute = CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        creating = change_set.change_set_type == "CREATE"
        try:
            original_execute(self, change_set_name, stack_name)
        except StackOperationFailed as failure:
            _record_events(stack, failure_events=True)
            prefix = "ROLLBACK" if creating else "UPDATE_ROLLBACK"
            verb = "create" if failure.status == "CREATE_FAILED" else "update"
            stack._add_stack_event(
                f"{prefix}_IN_PROGRESS",
                resource_status_reason=f"The following resource(s) failed to {verb}: [{failure.logical_id}]. ",
            )
            for logical_id, resource_type, reason in failure.rollback_failures:
                stack.events.append(
                    Event(
                        stack_id=stack.stack_id,
                        stack_name=stack.name,
                        logical_resource_id=logical_id,
                        physical_resource_id="",
                        resource_type=resource_type,
                        resource_status="DELETE_FAILED",
                        resource_status_reason=reason,
                        resource_properties=None,
                    )
                )
            end = f"{prefix}_FAILED" if failure.rollback_failures else f"{prefix}_COMPLETE"
            stack._add_stack_event(end)
            stack.status = end
            change_set.execution_status = "EXECUTE_FAILED"
            return
        _record_events(stack, failure_events=False)
        stack.parameters = change_set.parameters

    def _record_events(stack, failure_events: bool) -> None:
        pending = getattr(stack.resource_map, "stack_events", [])
        stack.resource_map.stack_events = []
        # Resource events belong before the stack's own closing event.
        closing = stack.events.pop() if stack.events and not failure_events else None
        for logical_id, resource_type, status, reason, physical_id in pending:
            stack.events.append(
                Event(
                    stack_id=stack.stack_id,
                    stack_name=stack.name,
                    logical_resource_id=logical_id,
                    physical_resource_id=physical_id,
                    resource_type=resource_type,
                    resource_status=status,
                    resource_status_reason=reason,
                    resource_properties=None,
                )
            )
        if closing is not None:
            stack.events.append(closing)

    ChangeSet.diff = diff
    ResourceMap.update = update
    CloudFormationBackend.execute_change_set = execute_change_set


def _stack_protections() -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    original_delete = CloudFormationBackend.delete_stack

    def delete_stack(self, name_or_stack_id: str) -> None:
        for stack in list(self.stacks.values()):
            if name_or_stack_id in (stack.stack_id, stack.name) and stack.enable_termination_protection:
                raise ValidationError(
                    message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled"
                )
        original_delete(self, name_or_stack_id)

    def update_termination_protection(self) -> ActionResult:
        name = self._get_param("StackName")
        stack = self.cloudformation_backend.get_stack(name)
        stack.enable_termination_protection = self._get_param("EnableTerminationProtection") in (True, "true")
        return ActionResult({"StackId": stack.stack_id})

    def list_change_sets(self) -> ActionResult:
        name = self._get_param("StackName")
        stack = self.cloudformation_backend.get_stack(name)
        change_sets = [c for c in self.cloudformation_backend.list_change_sets() if c.stack_id == stack.stack_id]
        return ActionResult({"Summaries": change_sets})

    CloudFormationBackend.delete_stack = delete_stack
    CloudFormationResponse.update_termination_protection = update_termination_protection
    CloudFormationResponse.list_change_sets = list_change_sets


def _slow_execution() -> None:
    import math
    import threading

    from moto.cloudformation.models import CloudFormationBackend

    patched = CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        delay = CONTROLS.slow_execution
        if not delay:
            return patched(self, change_set_name, stack_name)
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        kind = change_set.change_set_type
        events_before = len(stack.events)
        patched(self, change_set_name, stack_name)
        # Hold back what the execution produced; show it once the delay has passed.
        held, stack.events = stack.events[events_before:], stack.events[:events_before]
        final, stack.status = stack.status, f"{kind}_IN_PROGRESS"
        stack._add_stack_event(f"{kind}_IN_PROGRESS", resource_status_reason="User Initiated")

        def settle() -> None:
            stack.events.extend(held[1:] if held else [])
            stack.status = final

        if math.isfinite(delay):
            threading.Timer(delay, settle).start()

    CloudFormationBackend.execute_change_set = execute_change_set


def _action(environ: dict) -> str:
    """The API action of a request: X-Amz-Target (JSON protocols) or Action= (query protocol)."""
    import io
    from urllib.parse import parse_qs

    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    form = parse_qs(body.decode("utf-8", "replace")) if body else parse_qs(environ.get("QUERY_STRING", ""))
    return (form.get("Action") or [""])[0]


def _holds() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    dispatch = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        held = CONTROLS.arrive(_action(environ))
        if held is None:
            return dispatch(self, environ, start_response)
        if held.when == "before":
            held.wait()
            return dispatch(self, environ, start_response)
        answered = []  # held after the server acted: its answer waits with it
        body = list(dispatch(self, environ, lambda *reply: answered.append(reply)))
        held.wait()
        start_response(*answered[0])
        return body

    DomainDispatcherApplication.__call__ = call


def _one_stack_per_name() -> None:
    from moto.cloudformation.exceptions import AlreadyExistsException
    from moto.cloudformation.models import CloudFormationBackend

    create = CloudFormationBackend.create_change_set

    def create_change_set(
        self, stack_name, change_set_name, template, parameters, description, change_set_type, *a, **k
    ):
        existing = [s for s in self.stacks.values() if s.name == stack_name and s.status != "DELETE_COMPLETE"]
        if change_set_type != "CREATE" or not existing:
            return create(
                self, stack_name, change_set_name, template, parameters, description, change_set_type, *a, **k
            )
        (stack,) = existing
        if stack.status != "REVIEW_IN_PROGRESS":
            raise AlreadyExistsException(stack_name)
        change_set_id, made = create(
            self, stack_name, change_set_name, template, parameters, description, change_set_type, *a, **k
        )
        del self.stacks[made]  # the second stack moto made: the change set belongs to the existing one
        change_set = self.change_sets[change_set_id]
        change_set.stack, change_set.stack_id = stack, stack.stack_id
        return change_set_id, stack.stack_id

    CloudFormationBackend.create_change_set = create_change_set


def _hosted_zone_tags() -> None:
    from moto.route53.models import FakeZone, route53_backends
    from moto.utilities.utils import get_partition

    create = FakeZone.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.cloudformation import cloudformation_backends

        tags = {t["Key"]: t["Value"] for t in cloudformation_json.get("Properties", {}).get("HostedZoneTags") or []}
        stack = cloudformation_backends[account_id][region_name].stacks.get(kwargs.get("StackId", ""))
        # CloudFormation propagates the stack's tags to the zone; aws: system tags do not count.
        tags = {**{k: v for k, v in (getattr(stack, "tags", None) or {}).items() if not k.startswith("aws:")}, **tags}
        if len(tags) > MAX_ZONE_TAGS:
            raise ValueError(
                f"InvalidInput: a hosted zone takes at most {MAX_ZONE_TAGS} tags, got {len(tags)}: {', '.join(tags)}"
            )
        name = resource_name if resource_name.endswith(".") else f"{resource_name}."
        zone = create(cls, name, cloudformation_json, account_id, region_name, **kwargs)
        if tags:
            backend = route53_backends[account_id][get_partition(region_name)]
            backend.change_tags_for_resource(
                "hostedzone", zone.resource_id, [{"Key": k, "Value": v} for k, v in tags.items()], []
            )
        return zone

    FakeZone.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)

    def delete(self, account_id, region_name) -> None:
        # moto has no deletion for a template zone (a stack or a rollback never removed it).
        route53_backends[account_id][get_partition(region_name)].delete_hosted_zone(self.id)

    FakeZone.delete = delete


def _imports() -> None:
    """Patch 15: ListImports, and a stack whose exports another stack imports cannot be deleted."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    def importers(backend, export_name: str) -> list[str]:
        found = []
        for stack in backend.stacks.values():
            if stack.status.startswith("DELETE_COMPLETE"):
                continue
            text = json.dumps(getattr(stack, "template_dict", None) or {}, default=str)
            if json.dumps({"Fn::ImportValue": export_name})[1:-1] in text:
                found.append(stack.name)
        return sorted(set(found))

    def list_imports(self) -> ActionResult:
        name = self._get_param("ExportName")
        found = importers(self.cloudformation_backend, name)
        if not found:
            raise ValidationError(message=f"Export '{name}' is not imported by any stack.")
        return ActionResult({"Imports": found})

    delete_stack = CloudFormationBackend.delete_stack

    def delete_stack_unless_imported(self, name_or_stack_id: str) -> None:
        for stack in list(self.stacks.values()):
            if name_or_stack_id not in (stack.stack_id, stack.name) or stack.enable_termination_protection:
                continue
            for export in stack.exports:
                users = [u for u in importers(self, export.name) if u != stack.name]
                if users:
                    reason = f"Export {export.name} cannot be deleted as it is in use by {', '.join(users)}"
                    stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
                    stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
                    stack.status = "DELETE_FAILED"
                    return
        delete_stack(self, name_or_stack_id)

    CloudFormationResponse.list_imports = list_imports
    CloudFormationBackend.delete_stack = delete_stack_unless_imported


def _retries_and_retention() -> None:
    """Patch 16: idempotency tokens, RetainExceptOnCreate, and (tests) an answer lost after the action."""
    from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    class InvalidChangeSetStatus(CloudFormationError):
        code = "InvalidChangeSetStatus"

    execute = CloudFormationResponse.execute_change_set
    create = CloudFormationResponse.create_change_set

    def find(backend, name_or_arn: str, stack_name: str | None):
        if name_or_arn in backend.change_sets:
            return backend.change_sets[name_or_arn]
        for change_set in backend.change_sets.values():
            if change_set.change_set_name == name_or_arn and stack_name in (None, "", change_set.stack_name):
                return change_set
        return None

    def execute_change_set(self):
        change_set = find(self.cloudformation_backend, self._get_param("ChangeSetName"), self._get_param("StackName"))
        token = self._get_param("ClientRequestToken")
        if change_set is not None and change_set.execution_status != "AVAILABLE":
            if token and token == getattr(change_set, "compat_token", None):
                from moto.core.responses import EmptyResult

                return EmptyResult()  # the same request again: CloudFormation answers it as before
            raise InvalidChangeSetStatus(
                f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status of "
                f"[{change_set.execution_status}]"
            )
        if change_set is not None:
            change_set.compat_token = token
        with CONTROLS.executing(retain_except_on_create=self._get_param("RetainExceptOnCreate") in (True, "true")):
            answer = execute(self)
        if change_set is not None:  # DescribeStacks' ChangeSetId: the change set the stack last executed
            stack = self.cloudformation_backend.stacks.get(change_set.stack_id)
            if stack is not None:
                stack.change_set_id = change_set.change_set_id
        return answer

    def create_change_set(self):
        backend, name = self.cloudformation_backend, self._get_param("ChangeSetName")
        stack_name, token = self._get_param("StackName"), self._get_param("ClientToken")
        existing = find(backend, name, stack_name)
        if existing is not None and existing.execution_status == "EXECUTE_COMPLETE":
            existing = None  # an executed change set does not hold its name (aws-cli reuses names per second)
        if existing is not None:
            if token and token == getattr(existing, "compat_client_token", None):
                from moto.core.responses import ActionResult

                return ActionResult({"Id": existing.change_set_id, "StackId": existing.stack_id})
            raise AlreadyExistsException(f"ChangeSet {name} already exists")
        answer = create(self)
        created = find(backend, name, stack_name)
        if created is not None:
            created.compat_client_token = token
        return answer

    CloudFormationResponse.execute_change_set = execute_change_set
    CloudFormationResponse.create_change_set = create_change_set

    dispatch = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        if not CONTROLS.answer_lost(_action(environ)):
            return dispatch(self, environ, start_response)
        list(dispatch(self, environ, lambda *a, **k: None))  # the server acts ...
        body = b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>lost</Message>"
        body += b"</Error><RequestId>lost</RequestId></ErrorResponse>"
        start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]  # ... and its answer is lost: the client sees a failure and retries

    DomainDispatcherApplication.__call__ = call


# Patch 17: Route 53's limits on one ChangeResourceRecordSets request (Route 53 Developer Guide,
# "Quotas": at most 1,000 ResourceRecord elements and 32,000 characters in Value elements; an
# UPSERT counts twice).
MAX_BATCH_RECORDS = 1000
MAX_BATCH_CHARACTERS = 32000


def _route53_change_batches() -> None:
    """Patch 17: the change batch limits, and DELETE of any existing record set given its exact values."""
    from moto.route53.exceptions import Route53ClientError
    from moto.route53.models import Route53Backend

    class InvalidChangeBatch(Route53ClientError):
        def __init__(self, message: str) -> None:
            super().__init__("InvalidChangeBatch", message)

    change = Route53Backend.change_resource_record_sets

    def values(record_set) -> list[str]:
        raw = record_set.get("ResourceRecords") if isinstance(record_set, dict) else record_set.records
        return [str(r.get("Value", "")) if isinstance(r, dict) else str(r) for r in raw or []]

    def change_resource_record_sets(self, zoneid, change_list):
        weight = [2 if c["Action"] == "UPSERT" else 1 for c in change_list]
        records = sum(w * len(values(c["ResourceRecordSet"])) for w, c in zip(weight, change_list, strict=True))
        characters = sum(
            w * sum(len(v) for v in values(c["ResourceRecordSet"])) for w, c in zip(weight, change_list, strict=True)
        )
        if records > MAX_BATCH_RECORDS:
            raise InvalidChangeBatch(f"Number of records limit of {MAX_BATCH_RECORDS} exceeded.")
        if characters > MAX_BATCH_CHARACTERS:
            raise InvalidChangeBatch(
                f"Number of characters in Value elements limit of {MAX_BATCH_CHARACTERS} exceeded."
            )
        zone = self.get_hosted_zone(zoneid)
        exact = []
        for item in change_list:
            wanted = item["ResourceRecordSet"]
            if item["Action"] != "DELETE" or zone.rr_changes.has_insert_or_update(wanted):
                continue
            name, kind = wanted["Name"], wanted["Type"]
            found = [r for r in zone.rrsets if _same_name(r.name, name) and r.type == kind]
            label = f"[name='{name.rstrip('.').lower()}.', type='{kind}']"
            if not found:
                raise InvalidChangeBatch(f"Tried to delete resource record set {label} but it was not found")
            current = found[0]
            if str(current.ttl) != str(wanted.get("TTL")) or sorted(values(current)) != sorted(values(wanted)):
                raise InvalidChangeBatch(
                    f"Tried to delete resource record set {label} but the values provided do not match the "
                    "current values"
                )
            exact.append(item)
        rest = [item for item in change_list if item not in exact]
        if rest:
            change(self, zoneid, rest)
        for item in exact:  # validated above: cannot fail half-way
            zone.rrsets = [r for r in zone.rrsets if not (_same_name(r.name, item["ResourceRecordSet"]["Name"])
                                                          and r.type == item["ResourceRecordSet"]["Type"])]  # fmt: skip

    Route53Backend.change_resource_record_sets = change_resource_record_sets

    create_zone = Route53Backend.create_hosted_zone

    def create_hosted_zone(self, *args, **kwargs):
        zone = create_zone(self, *args, **kwargs)
        for record_set in zone.rrsets:
            if record_set.type == "SOA":  # moto nests the value in a dict, then prints the dict
                primary = zone.delegation_set.name_servers[0].rstrip(".")
                record_set.records = [f"{primary}. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"]
        return zone

    Route53Backend.create_hosted_zone = create_hosted_zone


def _drift_detection() -> None:
    """Patch 18: CloudFormation's drift detection, answered from the world's own resources."""
    import uuid as uuid_module
    from datetime import datetime

    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.parsing import clean_json
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult
    from moto.iam.models import iam_backends
    from moto.route53.models import route53_backends

    detections: dict[str, dict] = {}

    def as_json(value):
        return json.loads(value) if isinstance(value, str) else value

    def record_drift(stack, logical_id, props):
        zone_id = str(props.get("HostedZoneId", "")).split("/")[-1]
        zone = route53_backends[stack.account_id]["aws"].zones.get(zone_id)
        live = [
            r
            for r in (zone.rrsets if zone else [])
            if _same_name(r.name, str(props.get("Name", ""))) and r.type == props.get("Type")
        ]
        if not live:
            return "DELETED", []
        expected = sorted(str(v) for v in (props.get("ResourceRecords") or []))
        actual = sorted(str(v.get("Value") if isinstance(v, dict) else v) for v in live[0].records)
        differences = []
        if expected != actual:
            differences.append(("/ResourceRecords", json.dumps(expected), json.dumps(actual)))
        if str(props.get("TTL")) != str(live[0].ttl):
            differences.append(("/TTL", str(props.get("TTL")), str(live[0].ttl)))
        return ("MODIFIED" if differences else "IN_SYNC"), differences

    def role_drift(stack, resource, props):
        backend = iam_backends[stack.account_id]["aws"]
        try:
            role = backend.get_role(resource.name)
        except Exception:  # noqa: BLE001 - moto's NoSuchEntity: deleted behind CloudFormation's back
            return "DELETED", []
        differences = []
        if as_json(role.assume_role_policy_document) != as_json(props.get("AssumeRolePolicyDocument")):
            differences.append(
                (
                    "/AssumeRolePolicyDocument",
                    json.dumps(props.get("AssumeRolePolicyDocument")),
                    json.dumps(as_json(role.assume_role_policy_document)),
                )  # fmt: skip
            )
        expected = {p["PolicyName"]: as_json(p["PolicyDocument"]) for p in props.get("Policies") or []}
        actual = {name: as_json(doc) for name, doc in role.policies.items()}
        if expected != actual:
            differences.append(("/Policies", json.dumps(expected, sort_keys=True), json.dumps(actual, sort_keys=True)))
        return ("MODIFIED" if differences else "IN_SYNC"), differences

    def detect_stack_drift(self) -> ActionResult:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        now = datetime.now(UTC)
        results, failed = [], []
        for logical_id, resource in stack.resource_map._parsed_resources.items():
            resource_json = stack.resource_map._resource_json_map.get(logical_id) or {}
            kind = resource_json.get("Type", "")
            if logical_id in CONTROLS.drift_check_fails:
                failed.append(f"{logical_id}: {CONTROLS.drift_check_fails[logical_id]}")
                continue
            props = clean_json(resource_json.get("Properties", {}), stack.resource_map)
            if kind == "AWS::Route53::RecordSet":
                status, differences = record_drift(stack, logical_id, props)
            elif kind == "AWS::IAM::Role" and resource is not None and not isinstance(resource, str):
                status, differences = role_drift(stack, resource, props)
            elif kind.startswith("Custom::"):
                status, differences = "NOT_CHECKED", []  # CloudFormation does not check custom resources
            else:
                status, differences = "IN_SYNC", []
            results.append(
                {
                    "StackId": stack.stack_id,
                    "LogicalResourceId": logical_id,
                    "PhysicalResourceId": str(getattr(resource, "physical_resource_id", "") or ""),
                    "ResourceType": kind,
                    "StackResourceDriftStatus": status,
                    "PropertyDifferences": [
                        {"PropertyPath": path, "ExpectedValue": want, "ActualValue": got, "DifferenceType": "NOT_EQUAL"}
                        for path, want, got in differences
                    ],
                    "Timestamp": now,
                }
            )
        detection_id = str(uuid_module.uuid4())
        drifted = [r for r in results if r["StackResourceDriftStatus"] in ("MODIFIED", "DELETED")]
        detections[detection_id] = {
            "StackId": stack.stack_id,
            "StackDriftDetectionId": detection_id,
            "StackDriftStatus": "DRIFTED" if drifted else ("UNKNOWN" if failed else "IN_SYNC"),
            "DetectionStatus": "DETECTION_FAILED" if failed else "DETECTION_COMPLETE",
            "DriftedStackResourceCount": len(drifted),
            "Timestamp": now,
            **(
                {"DetectionStatusReason": "Failed to detect drift on resources [" + "; ".join(failed) + "]"}
                if failed
                else {}
            ),
        }
        stack.compat_drifts = results
        return ActionResult({"StackDriftDetectionId": detection_id})

    def describe_stack_drift_detection_status(self) -> ActionResult:
        found = detections.get(self._get_param("StackDriftDetectionId"))
        if found is None:
            raise ValidationError(message="Drift detection id not found")
        return ActionResult(found)

    def describe_stack_resource_drifts(self) -> ActionResult:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        wanted = set(_members(self.querystring, "StackResourceDriftStatusFilters"))
        drifts = [
            d for d in getattr(stack, "compat_drifts", []) if not wanted or d["StackResourceDriftStatus"] in wanted
        ]
        return ActionResult({"StackResourceDrifts": drifts})

    # moto's role update keeps the old trust and inline policies: apply them, as CloudFormation does.
    from moto.iam.models import Role

    update_role = Role.update_from_cloudformation_json.__func__

    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                        region_name):  # fmt: skip
        role = update_role(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        backend = iam_backends[account_id]["aws"]
        props = cloudformation_json.get("Properties", {})
        if "AssumeRolePolicyDocument" in props:
            trust = props["AssumeRolePolicyDocument"]
            backend.update_assume_role_policy(role.name, trust if isinstance(trust, str) else json.dumps(trust))
        wanted = {p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies") or []}
        for name in list(role.policies):
            if name not in wanted:
                backend.delete_role_policy(role.name, name)
        for name, document in wanted.items():
            backend.put_role_policy(role.name, name, document if isinstance(document, str) else json.dumps(document))
        return role

    Role.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)

    CloudFormationResponse.detect_stack_drift = detect_stack_drift
    CloudFormationResponse.describe_stack_drift_detection_status = describe_stack_drift_detection_status
    CloudFormationResponse.describe_stack_resource_drifts = describe_stack_resource_drifts
