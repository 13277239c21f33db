"""Patch 20: ``IMPORT`` change sets adopt existing resources into a stack, as CloudFormation's resource import.

moto has no resource import: a ``CreateChangeSet`` of type ``IMPORT`` ignores ``ResourcesToImport``,
always makes a new stack (a second one of the name when it exists), lists every resource as ``Add``,
and its execution creates them anew (a second hosted zone) and calls the stack ``IMPORT_COMPLETE``.

CloudFormation (User Guide, "Import AWS resources into a CloudFormation stack",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import.html; "Import an existing
resource into a stack", .../resource-import-existing-stack.html; "Create a stack from existing resources",
.../resource-import-new-stack.html; the CreateChangeSet and ResourceToImport API reference,
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html and
.../API_ResourceToImport.html): an import change set's template describes the whole stack, the stack's
resources and the ones to import; each resource to import has a ``DeletionPolicy`` (any value) and is named
by its identifier property and value (the type's resource schema's ``primaryIdentifier``: ``Id`` for
``AWS::Route53::HostedZone``, the zone ID; ``Id`` for ``AWS::SecretsManager::Secret``, the secret's ARN);
CloudFormation checks that it exists and that no stack of the Region holds it, and does not check that
the template matches it; an import creates, deletes and changes nothing else ("Import operations don't
allow new resource creations, resource deletions, or changes to property configurations"; "The import
operation fails if you modify existing parameters that initiate a create, update, or delete operation");
``IMPORT`` makes a new stack too (``REVIEW_IN_PROGRESS`` until executed); the stack goes
``IMPORT_IN_PROGRESS`` → ``IMPORT_COMPLETE``, or rolls back (``IMPORT_ROLLBACK_*``); the change set lists
each resource with ``Action: Import``; drift detection afterwards is recommended.

Here all of it is so (``resource_imports`` holds the rules). Refused at creation (``ValidationError``, no
change set, no stack) with CloudFormation's messages as quoted in public reports (AWS documents none):
the entries (none, without identifier, duplicated, not in the template, a type that cannot be imported,
the wrong identifier property, another type than the template's), a resource to import without
``DeletionPolicy``, a template that adds nothing or names a resource the stack holds, adds a resource not
listed, or modifies or removes one (resources, and the stack's ``Outputs``, ``Tags`` and ``RoleArn``: "As
part of the import operation, you cannot modify or add [...]"), a stack that cannot be updated now. Then the
type's read handler looks each resource up, with the caller's permissions (``iam_world``, the schema's
read-handler actions): refused, absent ("Resource of type ... with identifier ... was not found."), or held
by a stack ("<identifier> already exists in stack <stack ID>"), the change set is ``FAILED`` with that
reason. Executing reads each one again (gone, refused: ``IMPORT_FAILED``, the stack rolls back to
``IMPORT_ROLLBACK_COMPLETE`` and nothing joins it); otherwise the stack's resources are the world's own
zone and secret objects (updates, drift detection, ``DescribeStackResources`` and deletion act on them).
The world looks up hosted zones and secrets; an import of any other type fails closed.
"""

from __future__ import annotations

from moto.cloudformation import models
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Stack
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult
from moto.route53.models import route53_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.utilities.utils import get_partition

from tools.rehearsal import iam_world
from tools.rehearsal.moto_compat import resource_imports
from tools.rehearsal.moto_compat.p03_secrets import CompatSecret
from tools.rehearsal.moto_compat.p08_change_sets import _moto_event, _plan
from tools.rehearsal.moto_compat.patching import wrap
from tools.rehearsal.moto_compat.resource_imports import Import

ZONE = "AWS::Route53::HostedZone"
SECRET = "AWS::SecretsManager::Secret"


# -- CreateChangeSet ----------------------------------------------------------------------------------


def _live(backend, name: str) -> list:
    return [s for s in backend.stacks.values() if s.name == name and s.status != "DELETE_COMPLETE"]


def _request(response) -> tuple[dict, dict[str, str], dict[str, str], str | None]:
    """The import request's template, parameters, stack tags and role (only a TemplateBody is read)."""
    body = response._get_param("TemplateBody")
    if not body or response._get_param("TemplateURL") or response._get_bool_param("UsePreviousTemplate", False):
        raise ValidationError(message="the rehearsal world reads an import's template from TemplateBody only")
    parameters = {}
    for parameter in response._get_param("Parameters", []):
        if parameter.get("UsePreviousValue") in (True, "true"):
            raise ValidationError(message="the rehearsal world takes an import's parameters as values only")
        parameters[parameter["ParameterKey"]] = parameter.get("ParameterValue", "")
    tags = {t["Key"]: t["Value"] for t in response._get_param("Tags", [])}
    template = Stack.parse_template(body)
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise ValidationError(message="Template format error: At least one Resources member must be defined.")
    return template, parameters, tags, response._get_param("RoleARN")


def _changed(stack, template: dict, imports: list[Import], parameters: dict[str, str]) -> list[str]:
    """The stack's resources the template would add, update or delete besides the imports (patch 8's plan)."""
    listed = {i.logical_id for i in imports}
    rest = {**template, "Resources": {n: r for n, r in template["Resources"].items() if n not in listed}}
    plan = _plan(stack.resource_map, rest, parameters)
    return [*plan.adds, *plan.modifies, *plan.removes]


def refusal(backend, name: str, template: dict, imports, parameters, tags, role) -> str | None:
    """Why CloudFormation refuses this import change set at once, or None."""
    live = _live(backend, name)
    where = resource_imports.target([s.status for s in live])
    if where == "refuse":
        return resource_imports.not_updatable(live[-1].stack_id, live[-1].status)
    stack = live[-1] if where == "existing" else None
    resources = template["Resources"]
    found = resource_imports.entry_refusal(imports, resources, resource_imports.identifier_properties)
    if found:
        return found
    existing = list(stack.resource_map._resource_json_map) if stack else []
    changed = _changed(stack, template, imports, parameters) if stack else []
    found = resource_imports.template_refusal(imports, resources, existing, changed)
    if found:
        return found
    before = (stack.template_dict.get("Outputs") or {}, stack.tags, stack.role_arn) if stack else ({}, {}, None)
    return resource_imports.stack_refusal(
        resource_imports.stack_changes((before[0], template.get("Outputs") or {}), (before[1], tags), (before[2], role))
    )


def create_change_set(original, self):
    if self._get_param("ChangeSetType") != "IMPORT":
        return original(self)
    backend, name = self.cloudformation_backend, self._get_param("StackName")
    imports = resource_imports.parse(self.querystring)
    template, parameters, tags, role = _request(self)
    reason = refusal(backend, name, template, imports, parameters, tags, role)
    if reason:
        raise ValidationError(message=reason)
    live = _live(backend, name)
    stacks_before, change_sets_before = set(backend.stacks), set(backend.change_sets)
    answer = original(self)
    made = [c for c in backend.change_sets if c not in change_sets_before]
    if not made:
        return answer  # a retry answered as before (patch 16)
    (change_set_id,) = made
    change_set = backend.change_sets[change_set_id]
    if live:  # the change set belongs to the stack of that name: drop the one moto made
        for stack_id in set(backend.stacks) - stacks_before:
            del backend.stacks[stack_id]
        stack = live[-1]
        change_set.stack, change_set.stack_id, change_set.stack_name = stack, stack.stack_id, stack.name
    _look_up_all(backend, change_set, imports)
    return ActionResult({"Id": change_set_id, "StackId": change_set.stack_id})


def _look_up_all(backend, change_set, imports: list[Import]) -> None:
    """The read handler's look at each resource: the change set lists the imports, or FAILED with the reason."""
    change_set.compat_imports = imports
    for item in imports:
        _, reason = read(backend, change_set.stack, change_set.template_dict, item)
        if reason:
            change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
            change_set.status_reason, change_set.changes = reason, []
            return
    change_set.status, change_set.execution_status = "CREATE_COMPLETE", "AVAILABLE"
    change_set.status_reason = resource_imports.STATUS_REASON
    change_set.changes = [_change(item) for item in imports]


def _change(item: Import) -> models.Change:
    change = models.Change(action="Import", logical_resource_id=item.logical_id, resource_type=item.resource_type)
    change.physical_resource_id = item.value
    change.scope, change.details = [], []
    return change


# -- the read handler's look ----------------------------------------------------------------------------


def read(backend, stack, template: dict, item: Import):
    """(the world's object for the resource, None), or (None, why the type's read handler cannot import it)."""
    props = (template["Resources"][item.logical_id].get("Properties")) or {}
    account, region = stack.account_id, stack.region_name
    try:
        iam_world.check_handler(item.resource_type, "read", props, item.value, account, region)
    except iam_world.HandlerAccessDenied as denied:
        return None, str(denied)
    model = _existing(item, account, region)
    if isinstance(model, str):
        return None, model
    owner = _owner(backend, item.resource_type, model.physical_resource_id) if model is not None else None
    reason = resource_imports.lookup_failure(item, model is not None, owner)
    return (None, reason) if reason else (model, None)


def _existing(item: Import, account: str, region: str):
    """The zone or secret the identifier names (None: there is none); a string: the world cannot look."""
    if item.resource_type == ZONE:
        return route53_backends[account][get_partition(region)].zones.get(item.value.split("/")[-1])
    if item.resource_type == SECRET:
        try:
            described = secretsmanager_backends[account][region].describe_secret(item.value)
        except Exception:  # noqa: BLE001 - moto's ResourceNotFoundException
            return None
        described = described if isinstance(described, dict) else described.to_dict()
        return CompatSecret(described["ARN"], described["Name"])
    return f"the rehearsal world cannot import {item.resource_type} resources (it looks up zones and secrets)"


def _owner(backend, resource_type: str, physical_id: str) -> str | None:
    """The ID of the live stack of the Region holding the resource, if one does."""
    for stack in backend.stacks.values():
        if stack.status == "DELETE_COMPLETE":
            continue
        resource_map = stack.resource_map
        for name, parsed in resource_map._parsed_resources.items():
            declared = (resource_map._resource_json_map.get(name) or {}).get("Type")
            if declared == resource_type and getattr(parsed, "physical_resource_id", None) == physical_id:
                return stack.stack_id
    return None


# -- ExecuteChangeSet ------------------------------------------------------------------------------------


def execute_change_set(original, self, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = self.describe_change_set(change_set_name)
    if change_set.change_set_type != "IMPORT":
        return original(self, change_set_name, stack_name)
    stack = self.stacks[change_set.stack_id]
    imports: list[Import] = change_set.compat_imports
    adopted, failure = {}, None
    for item in imports:
        model, reason = read(self, stack, change_set.template_dict, item)
        if reason:
            failure = (item.logical_id, reason)
            break
        adopted[item.logical_id] = model
    events, final = resource_imports.execution(imports, failure)
    _record(stack, events)
    if failure is None:
        _adopt(self, stack, change_set, adopted)
    stack.status = final
    change_set.execution_status = "EXECUTE_COMPLETE" if failure is None else "EXECUTE_FAILED"
    return None


def _record(stack, events: list[resource_imports.Event]) -> None:
    for logical_id, resource_type, status, reason, physical_id in events:
        if not logical_id:
            stack._add_stack_event(status, resource_status_reason=reason)
            continue
        stack.events.append(_moto_event(stack, logical_id, resource_type, status, reason, physical_id))


def _adopt(backend, stack, change_set, adopted: dict) -> None:
    """The stack is now the import's template, and its imported resources are the world's own objects."""
    template = change_set.template_dict
    resource_map = stack.resource_map
    resource_map._template = template
    resource_map.input_parameters = change_set.parameters
    resource_map.load_mapping()
    resource_map.load_parameters()
    resource_map.load_conditions()
    resource_map._resource_json_map = template["Resources"]
    for name, model in adopted.items():
        model.logical_resource_id = name
        model.cf_resource_type = template["Resources"][name]["Type"]
        resource_map._parsed_resources[name] = model
    stack.template = change_set.template
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.parameters = change_set.parameters
    stack.output_map = stack._create_output_map()
    for export in stack.exports:
        backend.exports[export.name] = export


def install() -> None:
    wrap(CloudFormationResponse, "create_change_set", create_change_set)
    wrap(CloudFormationBackend, "execute_change_set", execute_change_set)
