"""What changes between the deployed template and the new one: parameters, properties, IAM, drift.

Pure functions over resolved resources (``tools.lib.plan.template``) and live
records; each returns the rows a reviewer reads. Nothing here calls AWS.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MASK = "****"
_DKIM_VALUE = re.compile(r'^"k=rsa;')


# -- showing values ------------------------------------------------------------------------------


def show(value) -> str:
    """A value as one readable line; DKIM keys shortened to their first and last characters."""
    if isinstance(value, str):
        if _DKIM_VALUE.match(value) or (len(value) > 80 and value.startswith('"')):
            joined = "".join(re.findall(r'"([^"]*)"', value))
            return f"{joined[:16]}...{joined[-8:]} ({len(joined)} chars)"
        return value if len(value) <= 120 else f"{value[:100]}... ({len(value)} chars)"
    if value is None:
        return "(none)"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))[:160]


def _flatten(value, path: str) -> dict[str, object]:
    if isinstance(value, dict) and value and not any(k.startswith("Fn::") or k == "Ref" for k in value):
        out: dict[str, object] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{path}.{key}" if path else key))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{path}[{index}]"))
        return out
    return {path: value}


# -- the rows a reviewer reads ---------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterChange:
    """One parameter, deployed value against the new one (NoEcho values never shown)."""

    name: str
    old: str
    new: str
    changed: bool


@dataclass(frozen=True)
class PropertyChange:
    """One property of a modified resource."""

    logical_id: str
    path: str
    old: str
    new: str


@dataclass(frozen=True)
class IamWidening:
    """A grant the new template adds or widens."""

    role: str
    document: str
    sid: str
    widening: str


RECORD_TYPE = "AWS::Route53::RecordSet"


def drift_details_command(stack: str, region: str) -> str:
    """The AWS CLI command that shows CloudFormation's detected drift of ``stack``, property by property."""
    return (
        f"aws cloudformation describe-stack-resource-drifts --stack-name {stack} "
        f"--stack-resource-drift-status-filters MODIFIED DELETED --region {region}"
    )


def drift_advice(by_hand: list[str], *, stack: str, region: str, command: str, rerun: bool = True) -> str:
    """What puts drift back, in one clause for deploy, plan and rollout alike.

    ``by_hand``: the drifted resources that are not records (``--overwrite-drift`` puts
    back only records); ``command``: the deploy command that puts records back, and
    (``rerun``) that is run again once the rest is put back by hand.
    """
    if by_hand:
        then = f", then run {command}" if rerun else ""
        return (
            f"{', '.join(sorted(set(by_hand)))} changed outside CloudFormation and --overwrite-drift puts back only "
            f"DNS records: put them back by hand to what the deployed template expects (see: "
            f"{drift_details_command(stack, region)}){then}"
        )
    return f"put the drifted records back as the deployed template says with: {command} --overwrite-drift"


@dataclass(frozen=True)
class Drift:
    """A live value that differs from what the deployed template says."""

    resource: str
    property: str
    expected: str
    actual: str
    resource_type: str = RECORD_TYPE  # only records can be put back by --overwrite-drift


def parameter_changes(
    old: dict[str, str], new: dict[str, str], no_echo: set[str], no_echo_changed: dict[str, bool | None]
) -> list[ParameterChange]:
    """Each parameter, old → new; NoEcho ones as ``****`` with changed true/false (None: unknown).

    With nothing deployed (``old`` empty) a NoEcho value is new, not changed.
    """
    rows = []
    for name in sorted(set(old) | set(new)):
        if name in no_echo:
            if not old:
                rows.append(ParameterChange(name, "(none)", MASK + " (new)", True))
                continue
            changed = no_echo_changed.get(name)
            label = {True: MASK + " (changed)", False: MASK, None: MASK + " (cannot tell)"}[changed]
            rows.append(ParameterChange(name, MASK, label, bool(changed)))
            continue
        before, after = old.get(name, ""), new.get(name, "")
        rows.append(
            ParameterChange(
                name, show(before) if before else "(empty)", show(after) if after else "(empty)", before != after
            )
        )
    return rows


ADDED, REMOVED = "ADDED", "REMOVED"


def property_changes(
    old_resources: dict[str, dict], new_resources: dict[str, dict], logical_ids: list[str], *, verbose: bool = False
) -> list[PropertyChange]:
    """For each modified resource, every property path whose resolved value differs.

    An added or removed resource is one row saying so (``ADDED``/``REMOVED``); ``verbose``
    adds each of its properties as well. A resource's empty property set is no row.
    """
    rows = []
    for logical_id in logical_ids:
        old, new = old_resources.get(logical_id), new_resources.get(logical_id)
        if old is None or new is None:
            rows.append(PropertyChange(logical_id, "(the resource)", "(none)" if old is None else "present",
                                       ADDED if old is None else REMOVED))  # fmt: skip
            if not verbose:
                continue
        before = _flatten((old or {}).get("Properties") or {}, "")
        after = _flatten((new or {}).get("Properties") or {}, "")
        for path in sorted(set(before) | set(after)):
            if path and before.get(path) != after.get(path):
                rows.append(PropertyChange(logical_id, path, show(before.get(path)), show(after.get(path))))
    return rows


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _statements(resources: dict[str, dict]) -> dict[tuple[str, str, str], dict]:
    found = {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        props = resource.get("Properties") or {}
        documents = [("trust policy", props.get("AssumeRolePolicyDocument") or {})]
        documents += [
            (f"policy {p.get('PolicyName', '?')}", p.get("PolicyDocument") or {})
            for p in _as_list(props.get("Policies"))
        ]
        for document_name, document in documents:
            for index, statement in enumerate(_as_list(document.get("Statement"))):
                found[(name, document_name, statement.get("Sid") or f"#{index}")] = statement
    return found


def _principals(statement: dict) -> set[str]:
    principal = statement.get("Principal") or {}
    if not isinstance(principal, dict):
        return {show(principal)}
    return {f"{kind}:{show(value)}" for kind, values in principal.items() for value in _as_list(values)}


def _conditions(statement: dict) -> dict[str, set[str]]:
    return {
        f"{operator} {key}": {show(v) for v in _as_list(values)}
        for operator, keys in (statement.get("Condition") or {}).items()
        for key, values in keys.items()
    }


def iam_widening(old_resources: dict[str, dict], new_resources: dict[str, dict]) -> list[IamWidening]:
    """Every IAM grant the new template adds or widens (new action, resource, principal; a looser condition)."""
    old, new = _statements(old_resources), _statements(new_resources)
    rows = []
    for key, statement in sorted(new.items()):
        if statement.get("Effect") != "Allow":
            continue
        role, document, sid = key
        before = old.get(key) if (old.get(key) or {}).get("Effect") == "Allow" else None
        gained = [
            (
                "action",
                {show(a) for a in _as_list(statement.get("Action"))},
                {show(a) for a in _as_list((before or {}).get("Action"))},
            ),
            (
                "resource",
                {show(r) for r in _as_list(statement.get("Resource"))},
                {show(r) for r in _as_list((before or {}).get("Resource"))},
            ),
            ("principal", _principals(statement), _principals(before or {})),
        ]
        for kind, now, then in gained:
            for value in sorted(now - then):
                rows.append(
                    IamWidening(role, document, sid, f"new {kind} {value}" + ("" if before else " (new statement)"))
                )
        if before:
            now_conditions, then_conditions = _conditions(statement), _conditions(before)
            for condition, values in sorted(then_conditions.items()):
                if condition not in now_conditions:
                    rows.append(IamWidening(role, document, sid, f"removed condition {condition}"))
                elif now_conditions[condition] != values:
                    rows.append(
                        IamWidening(
                            role, document, sid, f"condition {condition} changed to {sorted(now_conditions[condition])}"
                        )
                    )
    for key, statement in sorted(old.items()):
        if statement.get("Effect") == "Deny" and key not in new:
            rows.append(IamWidening(key[0], key[1], key[2], "removed a Deny statement"))
    return rows


def record_drift(expected: dict[str, dict], live: list[dict]) -> list[Drift]:
    """Record sets of the deployed template whose live name, TTL or values differ (tenant records are not drift)."""
    by_key = {(r["Name"].lower().rstrip("."), r["Type"]): r for r in live}
    rows = []
    for logical_id, resource in sorted(expected.items()):
        if resource.get("Type") != RECORD_TYPE:
            continue
        props = resource["Properties"]
        name = str(props.get("Name", "")).lower().rstrip(".")
        found = by_key.get((name, props.get("Type")))
        want = sorted(str(v) for v in _as_list(props.get("ResourceRecords")))
        if found is None:
            rows.append(
                Drift(logical_id, f"{props.get('Type')} {name}", show(want[0] if len(want) == 1 else want), "missing")
            )
            continue
        have = sorted(v["Value"] for v in found.get("ResourceRecords", []))
        if have != want:
            rows.append(
                Drift(
                    logical_id,
                    "ResourceRecords",
                    show(want[0] if len(want) == 1 else want),
                    show(have[0] if len(have) == 1 else have),
                )
            )
        if str(found.get("TTL")) != str(props.get("TTL")):
            rows.append(Drift(logical_id, "TTL", str(props.get("TTL")), str(found.get("TTL"))))
    return rows
