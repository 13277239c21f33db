"""Patch 18: drift detection, answered from the world's own resources.

Drift detection: moto has none (``DetectStackDrift`` answered an HTML 500). Here
``DetectStackDrift``, ``DescribeStackDriftDetectionStatus`` and
``DescribeStackResourceDrifts`` answer from the world's own resources: record sets
against Route 53 (values and TTL; DELETED when gone), IAM roles against IAM (trust and
inline policies), the zone, function, log group and secrets by the properties
``drift.COMPARED`` names, custom resources NOT_CHECKED (CloudFormation does not check
them). As on AWS ("Detect drift on an entire CloudFormation stack": drift detection needs
``cloudformation:DetectStackResourceDrift`` and read permission for each resource), each
resource is read with the caller's permissions: the type's read-handler actions
(``iam_world.drift_check_refusal``); a refused read fails that resource's check. Detection
completes at once; ``CONTROLS.drift_check_fails`` (tests) makes resources fail their check
too, so the detection ends ``DETECTION_FAILED`` with partial results, as CloudFormation's can.
moto's role update kept the old trust and inline policies (drift detection would have
called every accepted IAM change drift): here an update applies them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from moto.awslambda.utils import get_backend
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.parsing import clean_json
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult
from moto.iam.models import Role, iam_backends
from moto.logs.models import logs_backends
from moto.route53.models import route53_backends
from moto.secretsmanager.models import secretsmanager_backends

from tools.rehearsal import iam_world
from tools.rehearsal.moto_compat import drift
from tools.rehearsal.moto_compat.controls import CONTROLS
from tools.rehearsal.moto_compat.patching import wrap
from tools.rehearsal.moto_compat.protocol import members
from tools.rehearsal.moto_compat.route53 import same_name


def live_record(account_id: str, props: dict) -> dict | None:
    """The record set of the template's name and type in Route 53 now (None: there is none)."""
    zone_id = str(props.get("HostedZoneId", "")).split("/")[-1]
    zone = route53_backends[account_id]["aws"].zones.get(zone_id)
    for record_set in zone.rrsets if zone else []:
        if same_name(record_set.name, str(props.get("Name", ""))) and record_set.type == props.get("Type"):
            return {"ResourceRecords": record_set.records, "TTL": record_set.ttl}
    return None


def live_role(account_id: str, name: str) -> dict | None:
    """The role in IAM now (None: deleted behind CloudFormation's back)."""
    try:
        role = iam_backends[account_id]["aws"].get_role(name)
    except Exception:  # noqa: BLE001 - moto's NoSuchEntity
        return None
    return {"AssumeRolePolicyDocument": role.assume_role_policy_document, "Policies": dict(role.policies)}


def live_properties(stack, resource_type: str, physical_id: str) -> dict | None:
    """The zone, function, log group or secret now, shaped as its template properties (None: gone)."""
    account, region = stack.account_id, stack.region_name
    if resource_type == "AWS::Route53::HostedZone":
        zone = route53_backends[account]["aws"].zones.get(physical_id.split("/")[-1])
        return None if zone is None else {"HostedZoneConfig": {"Comment": zone.comment}}
    if resource_type == "AWS::Lambda::Function":
        try:
            function = get_backend(account, region).get_function(physical_id)
        except Exception:  # noqa: BLE001 - moto's ResourceNotFound: deleted behind CloudFormation's back
            return None
        return {
            "Runtime": function.run_time,
            "Handler": function.handler,
            "Timeout": function.timeout,
            "MemorySize": function.memory_size,
            "Description": function.description,
        }
    if resource_type == "AWS::Logs::LogGroup":
        group = logs_backends[account][region].groups.get(physical_id)
        return None if group is None else {"RetentionInDays": group.retention_in_days}
    if resource_type == "AWS::SecretsManager::Secret":
        try:
            secret = secretsmanager_backends[account][region].describe_secret(physical_id)
        except Exception:  # noqa: BLE001 - moto's ResourceNotFoundException
            return None
        described = secret if isinstance(secret, dict) else secret.to_dict()
        return {"Name": described.get("Name"), "Description": described.get("Description")}
    return None


def check(stack, resource, resource_type: str, props: dict, physical_id: str) -> tuple[str, list[drift.Difference]]:
    if resource_type == drift.RECORD_SET:
        return drift.record_drift(props, live_record(stack.account_id, props))
    if resource_type == drift.ROLE and resource is not None and not isinstance(resource, str):
        return drift.role_drift(props, live_role(stack.account_id, resource.name))
    if drift.compared(resource_type):
        return drift.properties_drift(resource_type, props, live_properties(stack, resource_type, physical_id))
    return drift.unchecked_drift(resource_type)


def detect_stack_drift(self) -> ActionResult:
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    now = datetime.now(UTC)
    results, failed = [], []
    for logical_id, resource in stack.resource_map._parsed_resources.items():
        resource_json = stack.resource_map._resource_json_map.get(logical_id)
        if resource_json is None:
            continue  # a parameter or a pseudo parameter moto keeps beside the resources
        resource_type = resource_json.get("Type", "")
        if logical_id in CONTROLS.drift_check_fails:
            failed.append(f"{logical_id}: {CONTROLS.drift_check_fails[logical_id]}")
            continue
        props = clean_json(resource_json.get("Properties", {}), stack.resource_map)
        physical_id = str(getattr(resource, "physical_resource_id", "") or "")
        if drift.supports_drift(resource_type):
            refusal = iam_world.drift_check_refusal(
                stack.stack_id, resource_type, props, physical_id, stack.account_id, stack.region_name
            )
            if refusal:
                failed.append(f"{logical_id}: {refusal}")
                continue
        status, differences = check(stack, resource, resource_type, props, physical_id)
        results.append(
            drift.resource_drift(stack.stack_id, logical_id, physical_id, resource_type, status, differences, now)
        )
    detection_id = str(uuid.uuid4())
    detections(self.cloudformation_backend)[detection_id] = drift.detection(
        stack.stack_id, detection_id, results, failed, now
    )
    stack.compat_drifts = results
    return ActionResult({"StackDriftDetectionId": detection_id})


def detections(backend) -> dict[str, dict]:
    """The drift detections of one account and region (moto's reset forgets them with the backend)."""
    return backend.__dict__.setdefault("compat_drift_detections", {})


def describe_stack_drift_detection_status(self) -> ActionResult:
    found = detections(self.cloudformation_backend).get(self._get_param("StackDriftDetectionId"))
    if found is None:
        raise ValidationError(message="Drift detection id not found")
    return ActionResult(found)


def describe_stack_resource_drifts(self) -> ActionResult:
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    wanted = set(members(self.querystring, "StackResourceDriftStatusFilters"))
    return ActionResult({"StackResourceDrifts": drift.filtered(getattr(stack, "compat_drifts", []), wanted)})


def update_role(original, cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    """moto's role update keeps the old trust and inline policies: apply them, as CloudFormation does."""
    role = original(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
    backend = iam_backends[account_id]["aws"]
    trust, deleted, put = drift.role_update(cloudformation_json.get("Properties", {}), list(role.policies))
    if trust is not None:
        backend.update_assume_role_policy(role.name, trust)
    for name in deleted:
        backend.delete_role_policy(role.name, name)
    for name, document in put.items():
        backend.put_role_policy(role.name, name, document)
    return role


def install() -> None:
    wrap(Role, "update_from_cloudformation_json", update_role, kind="classmethod")
    CloudFormationResponse.detect_stack_drift = detect_stack_drift
    CloudFormationResponse.describe_stack_drift_detection_status = describe_stack_drift_detection_status
    CloudFormationResponse.describe_stack_resource_drifts = describe_stack_resource_drifts
