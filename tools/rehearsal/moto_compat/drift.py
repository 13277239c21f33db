"""CloudFormation's drift detection as patch 18 answers it: plain functions over dicts (no moto).

A resource's expected state is its template properties, resolved; its live state is
what the world holds now (``None``: gone). A difference is ``(property path, expected,
actual)``, the values as JSON text, as ``DescribeStackResourceDrifts`` shows them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

Difference = tuple[str, str, str]
RECORD_SET = "AWS::Route53::RecordSet"
ROLE = "AWS::IAM::Role"


def as_json(value: Any) -> Any:
    """A policy document as data, whether IAM holds it as text or as data."""
    return json.loads(value) if isinstance(value, str) else value


def as_text(document: Any) -> str:
    """A policy document as the text IAM's API takes."""
    return document if isinstance(document, str) else json.dumps(document)


def _status(differences: list[Difference]) -> str:
    return "MODIFIED" if differences else "IN_SYNC"


def record_drift(expected: dict, live: dict | None) -> tuple[str, list[Difference]]:
    """A record set's drift: its values (in any order) and its TTL.

    ``live``: the record set of that name and type in Route 53 (``ResourceRecords``, ``TTL``;
    values plain or as ``{"Value": ...}``), None when there is none.
    """
    if live is None:
        return "DELETED", []
    want = sorted(str(v) for v in (expected.get("ResourceRecords") or []))
    have = sorted(str(v.get("Value") if isinstance(v, dict) else v) for v in live.get("ResourceRecords") or [])
    differences = []
    if want != have:
        differences.append(("/ResourceRecords", json.dumps(want), json.dumps(have)))
    if str(expected.get("TTL")) != str(live.get("TTL")):
        differences.append(("/TTL", str(expected.get("TTL")), str(live.get("TTL"))))
    return _status(differences), differences


def role_drift(expected: dict, live: dict | None) -> tuple[str, list[Difference]]:
    """A role's drift: its trust policy and its inline policies (documents compared as data).

    ``live``: the role in IAM (``AssumeRolePolicyDocument``; ``Policies``: name to document),
    None when it was deleted.
    """
    if live is None:
        return "DELETED", []
    differences = []
    trust = as_json(live.get("AssumeRolePolicyDocument"))
    if trust != as_json(expected.get("AssumeRolePolicyDocument")):
        differences.append(
            ("/AssumeRolePolicyDocument", json.dumps(expected.get("AssumeRolePolicyDocument")), json.dumps(trust))
        )
    want = {p["PolicyName"]: as_json(p["PolicyDocument"]) for p in expected.get("Policies") or []}
    have = {name: as_json(document) for name, document in (live.get("Policies") or {}).items()}
    if want != have:
        differences.append(("/Policies", json.dumps(want, sort_keys=True), json.dumps(have, sort_keys=True)))
    return _status(differences), differences


# The properties the world compares for the other types of this project's template (those a person can
# change by hand in the console): the expected value's path in the template properties, dotted.
COMPARED = (
    ("AWS::Route53::HostedZone", ("HostedZoneConfig.Comment",)),
    ("AWS::Lambda::Function", ("Runtime", "Handler", "Timeout", "MemorySize", "Description")),
    ("AWS::Logs::LogGroup", ("RetentionInDays",)),
    ("AWS::SecretsManager::Secret", ("Name", "Description")),
)


def compared(resource_type: str) -> tuple[str, ...]:
    """The property paths the world compares for one type (empty: none)."""
    return next((paths for kind, paths in COMPARED if kind == resource_type), ())


def _at(document: dict, path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def properties_drift(resource_type: str, expected: dict, live: dict | None) -> tuple[str, list[Difference]]:
    """Drift of the ``COMPARED`` properties of one resource (``live`` shaped as template properties; None: gone).

    A property the template does not set is not compared (CloudFormation compares what the template says).
    """
    if live is None:
        return "DELETED", []
    differences = []
    for path in compared(resource_type):
        want, have = _at(expected, path), _at(live, path)
        if want is not None and str(want) != str(have):
            differences.append(("/" + path.replace(".", "/"), json.dumps(want), json.dumps(have)))
    return _status(differences), differences


def supports_drift(resource_type: str) -> bool:
    """CloudFormation does not detect drift on custom resources ("Resource type support": not supported)."""
    return not resource_type.startswith("Custom::") and resource_type != "AWS::CloudFormation::CustomResource"


def unchecked_drift(resource_type: str) -> tuple[str, list[Difference]]:
    """A type the world cannot compare: custom resources are NOT_CHECKED, as on AWS; any other is refused."""
    if not supports_drift(resource_type):
        return "NOT_CHECKED", []
    raise NotImplementedError(f"the rehearsal world cannot detect drift on {resource_type}")


def resource_drift(
    stack_id: str,
    logical_id: str,
    physical_id: str,
    resource_type: str,
    status: str,
    differences: list[Difference],
    now: datetime,
) -> dict:
    """One entry of ``DescribeStackResourceDrifts``."""
    return {
        "StackId": stack_id,
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": physical_id,
        "ResourceType": resource_type,
        "StackResourceDriftStatus": status,
        "PropertyDifferences": [
            {"PropertyPath": path, "ExpectedValue": want, "ActualValue": got, "DifferenceType": "NOT_EQUAL"}
            for path, want, got in differences
        ],
        "Timestamp": now,
    }


def detection(stack_id: str, detection_id: str, results: list[dict], failed: list[str], now: datetime) -> dict:
    """``DescribeStackDriftDetectionStatus``'s answer: ``failed`` are the resources whose check failed.

    A failed check ends the detection DETECTION_FAILED with the others' results: the stack
    is DRIFTED if any of them drifted, UNKNOWN otherwise.
    """
    drifted = [r for r in results if r["StackResourceDriftStatus"] in ("MODIFIED", "DELETED")]
    found = {
        "StackId": stack_id,
        "StackDriftDetectionId": detection_id,
        "StackDriftStatus": "DRIFTED" if drifted else ("UNKNOWN" if failed else "IN_SYNC"),
        "DetectionStatus": "DETECTION_FAILED" if failed else "DETECTION_COMPLETE",
        "DriftedStackResourceCount": len(drifted),
        "Timestamp": now,
    }
    if failed:
        found["DetectionStatusReason"] = failure_reason(failed)
    return found


def failure_reason(failed: list[str]) -> str:
    """DetectionStatusReason of a detection that failed on some resources (``"<logical ID>: <reason>"`` each).

    The shape CloudFormation answers (seen in aws-cloudformation/cloudformation-coverage-roadmap#801): a JSON
    object with a summary naming the resources and each one's failure reason.
    """
    names = [f.split(":", 1)[0] for f in failed]
    failures = [{"Resource": f.split(":", 1)[0], "FailureReason": f.split(":", 1)[1].strip()} for f in failed]
    return json.dumps({"Summary": f"Failed to detect drift on resources [{','.join(names)}]", "Failures": failures})


def filtered(drifts: list[dict], statuses: set[str]) -> list[dict]:
    """``StackResourceDriftStatusFilters``: the entries in one of ``statuses`` (all when none is given)."""
    return [d for d in drifts if not statuses or d["StackResourceDriftStatus"] in statuses]


def role_update(properties: dict, current_policies: list[str]) -> tuple[str | None, list[str], dict[str, str]]:
    """What a role update applies: (the trust policy's text or None, inline policies to delete, to put).

    CloudFormation makes the role hold exactly the template's inline policies.
    """
    trust = properties.get("AssumeRolePolicyDocument")
    wanted = {p["PolicyName"]: as_text(p["PolicyDocument"]) for p in properties.get("Policies") or []}
    return (
        as_text(trust) if "AssumeRolePolicyDocument" in properties else None,
        [name for name in current_policies if name not in wanted],
        wanted,
    )
