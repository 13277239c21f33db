"""What a deploy will change, in a form a reviewer can trust: parameters, properties, IAM, drift.

Pure functions over two CloudFormation templates (as dicts) and their parameters:
the deployed ones and the ones about to be deployed. Intrinsic functions are
resolved as far as parameters and conditions allow (``Ref`` of a parameter,
``Fn::Join``, ``Fn::If``, ``Fn::Sub`` of parameters); a reference to a resource or
an attribute is shown as ``<Resource>`` or ``<Resource.Attribute>``, which is
enough to tell what changes. Nothing here calls AWS.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

MASK = "****"
_DKIM_VALUE = re.compile(r'^"k=rsa;')


# -- reading templates -----------------------------------------------------------------------


def load_template(body: str) -> dict:
    """A CloudFormation template in YAML (short-form tags such as ``!Ref``) or JSON, as plain data.

    PyYAML with one constructor per intrinsic function: far lighter than importing
    cfn-lint's decoder, which this runs on every deploy for two templates.
    """
    import yaml

    # libyaml's loader when the wheel has it (ten times faster on a 30 KB template).
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):
        """A safe loader plus CloudFormation's short-form tags."""

    def construct(loader, tag_suffix, node):
        name = "Ref" if tag_suffix == "Ref" else ("Condition" if tag_suffix == "Condition" else f"Fn::{tag_suffix}")
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if tag_suffix == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    Loader.add_multi_constructor("!", construct)
    document = yaml.load(body, Loader=Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError("not a template (no mapping at the top)")
    return document


# -- resolving a template's values -----------------------------------------------------------


def conditions(template: dict, params: dict[str, str]) -> dict[str, bool]:
    """Every condition of ``template`` evaluated with ``params``."""
    raw = template.get("Conditions") or {}
    done: dict[str, bool] = {}

    def evaluate(node) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((key, value),) = node.items()
            if key == "Condition":
                return named(value)
            if key == "Fn::Equals":
                left, right = (resolve(v, params, done) for v in value)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not evaluate(value[0])
            if key == "Fn::And":
                return all(evaluate(v) for v in value)
            if key == "Fn::Or":
                return any(evaluate(v) for v in value)
        return bool(node)

    def named(name: str) -> bool:
        if name not in done:
            done[name] = evaluate(raw[name])
        return done[name]

    for name in raw:
        named(name)
    return done


def resolve(node, params: dict[str, str], conds: dict[str, bool]):
    """``node`` with the intrinsics that parameters and conditions decide replaced by their value."""
    if isinstance(node, list):
        return [resolve(v, params, conds) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref":
            return params.get(value, f"<{value}>") if not str(value).startswith("AWS::") else f"<{value}>"
        if key == "Fn::GetAtt":
            return f"<{'.'.join(value) if isinstance(value, list) else value}>"
        if key == "Fn::Join":
            separator, parts = value
            resolved = resolve(parts, params, conds)
            if isinstance(resolved, list) and all(isinstance(p, str) for p in resolved):
                return separator.join(resolved)
            return {"Fn::Join": [separator, resolved]}
        if key == "Fn::If":
            name, when_true, when_false = value
            return resolve(when_true if conds.get(name) else when_false, params, conds)
        if key == "Fn::Sub" and isinstance(value, str):
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(params.get(m.group(1), f"<{m.group(1)}>")), value)
    return {k: resolve(v, params, conds) for k, v in node.items()}


def live_resources(template: dict, params: dict[str, str]) -> dict[str, dict]:
    """The resources whose condition holds, their properties resolved."""
    conds = conditions(template, params)
    return {
        name: {**resource, "Properties": resolve(resource.get("Properties") or {}, params, conds)}
        for name, resource in (template.get("Resources") or {}).items()
        if not resource.get("Condition") or conds.get(resource["Condition"])
    }


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


@dataclass(frozen=True)
class Drift:
    """A live value that differs from what the deployed template says."""

    resource: str
    property: str
    expected: str
    actual: str


@dataclass
class Plan:
    """Everything a reviewer should know before a change set runs."""

    target: str
    parameters: list[ParameterChange] = field(default_factory=list)
    properties: list[PropertyChange] = field(default_factory=list)
    iam: list[IamWidening] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    drift_note: str = ""
    changes: list[dict] = field(default_factory=list)
    change_set: str = ""

    def to_dict(self) -> dict:
        """A JSON-ready view (``--json``)."""
        return {
            "target": self.target,
            "change_set": self.change_set,
            "changes": self.changes,
            "parameters": [asdict(p) for p in self.parameters],
            "properties": [asdict(p) for p in self.properties],
            "iam_widening": [asdict(i) for i in self.iam],
            "drift": [asdict(d) for d in self.drift],
            "drift_note": self.drift_note,
        }


def parameter_changes(
    old: dict[str, str], new: dict[str, str], no_echo: set[str], no_echo_changed: dict[str, bool | None]
) -> list[ParameterChange]:
    """Each parameter, old → new; NoEcho ones as ``****`` with changed true/false (None: unknown)."""
    rows = []
    for name in sorted(set(old) | set(new)):
        if name in no_echo:
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


def property_changes(
    old_resources: dict[str, dict], new_resources: dict[str, dict], logical_ids: list[str]
) -> list[PropertyChange]:
    """For each modified resource, every property path whose resolved value differs."""
    rows = []
    for logical_id in logical_ids:
        before = _flatten((old_resources.get(logical_id) or {}).get("Properties") or {}, "")
        after = _flatten((new_resources.get(logical_id) or {}).get("Properties") or {}, "")
        for path in sorted(set(before) | set(after)):
            if before.get(path) != after.get(path):
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
        if resource.get("Type") != "AWS::Route53::RecordSet":
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


# -- Markdown for pull requests ----------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)] + [
        "| " + " | ".join(cell(c) for c in row) + " |" for row in rows
    ]


def _section(title: str, headers: list[str], rows: list[list[str]], empty: str) -> list[str]:
    """A Markdown section: its title, then a table of ``rows`` or the ``empty`` sentence."""
    return ["", f"### {title}", ""] + (_table(headers, rows) if rows else [empty])


def markdown(plan: Plan) -> str:
    """The plan as a Markdown summary (the same facts as --json)."""
    lines = [f"## Plan: {plan.target}"]
    lines += _section(
        "Drift (live values that differ from the deployed template)",
        ["resource", "property", "expected", "actual"],
        [[d.resource, d.property, d.expected, d.actual] for d in plan.drift],
        "No drift.",
    )
    if plan.drift_note:
        lines += ["", plan.drift_note]
    lines += _section(
        "Changes",
        ["action", "logical ID", "type", "replacement"],
        [[c["action"], c["logical_id"], c["resource_type"], c["replacement"] or "-"] for c in plan.changes],
        "No resource changes.",
    )
    lines += _section(
        "Parameters",
        ["parameter", "deployed", "new"],
        [[p.name, p.old, p.new] for p in plan.parameters if p.changed],
        "No parameter changes.",
    )
    lines += _section(
        "Property changes",
        ["resource", "property", "deployed", "new"],
        [[p.logical_id, p.path, p.old, p.new] for p in plan.properties],
        "No property changes.",
    )
    lines += _section(
        "IAM changes that widen permissions",
        ["role", "document", "statement", "widening"],
        [[i.role, i.document, i.sid, i.widening] for i in plan.iam],
        "None.",
    )
    return "\n".join(lines) + "\n"
