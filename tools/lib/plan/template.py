"""CloudFormation templates as data: read (YAML short forms or JSON) and resolved with their parameters.

Intrinsic functions are resolved as far as parameters and conditions allow (``Ref``
of a parameter, ``Fn::Join``, ``Fn::If``, ``Fn::Sub`` of parameters); a reference
to a resource or an attribute is shown as ``<Resource>`` or ``<Resource.Attribute>``,
which is enough to tell what changes. Nothing here calls AWS.
"""

from __future__ import annotations

import re

import yaml

from tools.lib.errors import ArdaMailError


def load_template(body: str) -> dict:
    """A CloudFormation template in YAML (short-form tags such as ``!Ref``) or JSON, as plain data.

    PyYAML with one constructor per intrinsic function: far lighter than importing
    cfn-lint's decoder, which this runs on every deploy for two templates.
    """
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
    # CloudFormation templates never use YAML anchors; an alias can multiply a small text into
    # gigabytes (the "billion laughs"), so any alias is refused before anything is built.
    for event in yaml.parse(body, Loader=Loader):
        if isinstance(event, yaml.AliasEvent):
            raise ValueError("YAML aliases are not allowed in a CloudFormation template")
    document = yaml.load(body, Loader=Loader)  # noqa: S506 - SafeLoader subclass
    return checked_shape(document)


def checked_shape(document: object) -> dict:
    """``document`` if it has a template's shape (each section a mapping of mappings); ValueError otherwise."""
    if not isinstance(document, dict):
        raise ValueError("not a template (no mapping at the top)")
    for section in SECTIONS:
        if document.get(section) is not None and not isinstance(document[section], dict):
            raise ValueError(f"its {section} must be a mapping, got: {type(document[section]).__name__}")
        for name, value in (document.get(section) or {}).items():
            if not isinstance(value, dict):
                raise ValueError(f"its {section} entry {name!r} must be a mapping, got: {type(value).__name__}")
    return document


# The sections a template holds as mappings of name to a mapping (a hostile template that breaks this is refused).
SECTIONS = ("Parameters", "Conditions", "Resources", "Outputs", "Mappings")


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


def parse_template(body: str | dict, what: str) -> dict:
    """A template (YAML with short-form tags, JSON, or already a dict) as plain data; one sentence if it is not."""
    try:
        return checked_shape(body) if isinstance(body, dict) else load_template(body)
    except (ValueError, yaml.YAMLError) as exc:
        problem = " ".join(str(exc).split())[:200]
        raise ArdaMailError(f"{what} could not be read as a CloudFormation template: {problem}") from None


def no_echo_parameters(template: dict) -> set[str]:
    """The names of the template's NoEcho parameters."""
    return {k for k, v in (template.get("Parameters") or {}).items() if v.get("NoEcho") in (True, "true")}
