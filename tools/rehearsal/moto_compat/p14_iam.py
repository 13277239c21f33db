"""Patch 14: IAM, evaluated on every request and every resource CloudFormation handles.

IAM: moto allows every request (its own enforcement passes Resource ``*`` for
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
"""

from __future__ import annotations

from moto.cloudformation import parsing
from moto.cloudformation.models import CloudFormationBackend
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.responses import ActionResult
from moto.iam.exceptions import NotFoundException
from moto.iam.policy_validation import BaseIAMPolicyValidator
from moto.iam.responses import IamResponse
from werkzeug.exceptions import HTTPException

from tools.rehearsal import iam_world
from tools.rehearsal.moto_compat import protocol
from tools.rehearsal.moto_compat.patching import wrap


class Refused(HTTPException):
    """A request IAM denies, answered in its service's protocol."""

    def __init__(self, code: int, body: str) -> None:
        super().__init__(description=body)
        self.code = code


def authorize(self, resource: str = "*") -> None:
    try:
        iam_world.check_request(self)
    except iam_world.AccessDenied as denied:
        service = protocol.service_of(self.headers.get("Authorization", ""))
        raise Refused(*protocol.access_denied(service, str(denied))) from None


# A policy variable as the whole Resource ("${aws:PrincipalArn}") is valid IAM (IAM User
# Guide, "IAM policy elements: Variables and tags"); moto's validator refuses it as a bad ARN.
def validate_resource_format(original, self, resource: str) -> None:
    if not protocol.is_policy_variable(resource):
        original(self, resource)


def legacy_parse_resource_like(original, statement, key) -> None:
    kept = protocol.without_policy_variables(statement[key])
    if kept:
        original({**statement, key: kept}, key)


# CloudFormation acts with its caller's permissions.
def _resolved(resource_json: dict, resources_map) -> dict:
    return parsing.clean_json(resource_json.get("Properties", {}) or {}, resources_map)


def parse_and_create_resource(original, logical_id, resource_json, resources_map, account_id, region_name):
    condition = resource_json.get("Condition")
    if not (condition and not resources_map.lazy_condition_map[condition]):
        props = _resolved(resource_json, resources_map)
        name_property = parsing.resource_name_property_from_type(resource_json["Type"])
        physical = props.get(name_property) if name_property else None
        physical = physical or parsing.generate_resource_name(
            resource_json["Type"], resources_map["AWS::StackName"], logical_id
        )
        iam_world.check_handler(resource_json["Type"], "create", props, str(physical), account_id, region_name)
    return original(logical_id, resource_json, resources_map, account_id, region_name)


def parse_and_update_resource(original, logical_id, resource_json, resources_map, account_id, region_name):
    existing = resources_map._parsed_resources.get(logical_id)
    physical = getattr(existing, "physical_resource_id", "") or ""
    props = _resolved(resource_json, resources_map)
    iam_world.check_handler(resource_json["Type"], "update", props, str(physical), account_id, region_name)
    return original(logical_id, resource_json, resources_map, account_id, region_name)


def delete_resource(original, self, parsed_resource, resource_json):
    physical = getattr(parsed_resource, "physical_resource_id", "") or ""
    props = _resolved(resource_json, self) if resource_json else {}
    iam_world.check_handler(resource_json["Type"], "delete", props, str(physical), self._account_id, self._region_name)
    return original(self, parsed_resource, resource_json)


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


# A deletion CloudFormation may not finish ends DELETE_FAILED; the stack stays.
def delete_stack(original, self, name_or_stack_id: str) -> None:
    stacks = dict(self.stacks)
    try:
        original(self, name_or_stack_id)
    except iam_world.HandlerAccessDenied as denied:
        for stack_id, stack in stacks.items():
            if name_or_stack_id in (stack_id, stack.name) and stack_id not in self.stacks:
                self.stacks[stack_id] = stack
                self.deleted_stacks.pop(stack_id, None)
                stack._add_stack_event("DELETE_FAILED", resource_status_reason=str(denied))
                stack.status = "DELETE_FAILED"


# iam:SimulatePrincipalPolicy, answered by the same evaluator (moto has none).
def simulate_principal_policy(self) -> ActionResult:
    actions, resources, context = protocol.simulation_request(self.querystring)
    try:
        results = iam_world.simulate(self._get_param("PolicySourceArn") or "", actions, resources, context)
    except LookupError as missing:
        raise NotFoundException(str(missing)) from None
    return ActionResult(protocol.simulation_answer(results, resources))


def install() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authorize
    wrap(BaseIAMPolicyValidator, "_validate_resource_format", validate_resource_format)
    wrap(BaseIAMPolicyValidator, "_legacy_parse_resource_like", legacy_parse_resource_like, kind="staticmethod")
    wrap(parsing, "parse_and_create_resource", parse_and_create_resource)
    wrap(parsing, "parse_and_update_resource", parse_and_update_resource)
    wrap(parsing.ResourceMap, "_delete_resource", delete_resource)
    parsing.ResourceMap.delete = delete
    wrap(CloudFormationBackend, "delete_stack", delete_stack)
    IamResponse.simulate_principal_policy = simulate_principal_policy
