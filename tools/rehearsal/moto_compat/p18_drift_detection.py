"""Patch 18: drift detection, answered from the world's own resources.

Drift detection: moto has none (``DetectStackDrift`` answered an HTML 500). Here
``DetectStackDrift``, ``DescribeStackDriftDetectionStatus`` and
``DescribeStackResourceDrifts`` answer from the world's own resources: record sets
against Route 53 (values and TTL; DELETED when gone), IAM roles against IAM (trust and
inline policies), custom resources NOT_CHECKED, other types IN_SYNC. Detection
completes at once; ``CONTROLS.drift_check_fails`` (tests) makes resources fail their check,
so the detection ends ``DETECTION_FAILED`` with partial results, as CloudFormation's can.
moto's role update kept the old trust and inline policies (drift detection would have
called every accepted IAM change drift): here an update applies them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.parsing import clean_json
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult
from moto.iam.models import Role, iam_backends
from moto.route53.models import route53_backends

from tools.rehearsal.moto_compat.controls import CONTROLS
from tools.rehearsal.moto_compat.patching import wrap
from tools.rehearsal.moto_compat.protocol import members
from tools.rehearsal.moto_compat.route53 import same_name


def as_json(value):
    return json.loads(value) if isinstance(value, str) else value


def record_drift(stack, logical_id, props):
    zone_id = str(props.get("HostedZoneId", "")).split("/")[-1]
    zone = route53_backends[stack.account_id]["aws"].zones.get(zone_id)
    live = [
        r
        for r in (zone.rrsets if zone else [])
        if same_name(r.name, str(props.get("Name", ""))) and r.type == props.get("Type")
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
    detection_id = str(uuid.uuid4())
    drifted = [r for r in results if r["StackResourceDriftStatus"] in ("MODIFIED", "DELETED")]
    detections(self.cloudformation_backend)[detection_id] = {
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
    drifts = [d for d in getattr(stack, "compat_drifts", []) if not wanted or d["StackResourceDriftStatus"] in wanted]
    return ActionResult({"StackResourceDrifts": drifts})


# moto's role update keeps the old trust and inline policies: apply them, as CloudFormation does.
def update_role(original, cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    role = original(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
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


def install() -> None:
    wrap(Role, "update_from_cloudformation_json", update_role, kind="classmethod")
    CloudFormationResponse.detect_stack_drift = detect_stack_drift
    CloudFormationResponse.describe_stack_drift_detection_status = describe_stack_drift_detection_status
    CloudFormationResponse.describe_stack_resource_drifts = describe_stack_resource_drifts
