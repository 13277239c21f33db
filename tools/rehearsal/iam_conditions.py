"""IAM condition evaluation for the string, ARN and Boolean operators, and Route 53's names.

The first piece of the rehearsal world's policy evaluator (issue 20): enough to
prove what the partition's DNS-records role may change, evaluated on the rendered
template's policy. Never imported by the product.

Semantics, each from AWS's documentation:

- Context key names (IAM User Guide, "IAM JSON policy elements: Condition",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html):
  "Context key names are not case-sensitive. For example, including the
  aws:SourceIP context key is equivalent to testing for AWS:SourceIp", and for
  keys that carry a name (``aws:ResourceTag/tag-key``, ``aws:RequestTag/tag-key``):
  "Key names are not case-sensitive ... the condition matches a resource tag key
  named either TagKey1 or tagkey1, but not both"; a resource tagged with two keys
  that differ only by case "can result in unexpected condition failures", so a
  request context holding two such keys is refused here. The case-sensitivity of
  *values* "depends on the condition operator".
- Condition operators ("IAM JSON policy elements: Condition operators",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
  ``StringEquals``/``StringNotEquals`` compare exactly and are case sensitive,
  ``StringEqualsIgnoreCase``/``StringNotEqualsIgnoreCase`` ignore case;
  ``StringLike``/``StringNotLike`` take ``*`` (any run of characters, dots
  included) and ``?`` (one character). ``ArnEquals`` and ``ArnLike`` "behave
  identically": each of the six colon-delimited parts is matched separately with
  the wildcards. ``Bool`` compares ``true``/``false``.
- A key absent from the request context (same page, "Important"): the condition
  is false, except for a negated operator, which is true. ``...IfExists``: "If the
  key is not present, evaluate the condition element as true". ``Null``: ``true``
  holds when the key is absent, ``false`` when it is present.
- Several values for one key are ORed; for a negated operator the value must match
  none of them ("Creating a condition with multiple keys or values",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html).
  Several keys under one operator, and several operators, are ANDed. ``ForAllValues``
  holds when every request value matches, and when the key is absent or empty;
  ``ForAnyValue`` when at least one does, and not when the key is absent or empty.
  A plain operator on a key with several request values is refused, and so is a
  policy variable (``${...}``, "IAM policy elements: Variables and tags") left
  unresolved in a condition value.
- A key the world cannot fill (``modelled``): AWS would put it in the request
  context, the world does not know its value, so its absence here says nothing.
  Any condition on such a key is refused, never taken as absent (a ``Deny`` on it
  would otherwise never fire).
- ``route53:ChangeResourceRecordSetsNormalizedRecordNames`` (Route 53 Developer
  Guide, "Using IAM policy conditions for fine-grained access control",
  "Normalizing the Route 53 condition key values"): all letters lowercase, no
  trailing dot, and every character other than a-z, 0-9, hyphen, underscore and
  the label-separating period escaped as a backslash and three octal digits
  (``\\052`` for ``*``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

_PLAIN = re.compile(r"[a-z0-9\-_.]")
_OPERATORS = frozenset(
    {
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "ArnEquals",
        "ArnNotEquals",
        "ArnLike",
        "ArnNotLike",
        "Bool",
    }
)
_SET_OPERATORS = ("", "ForAllValues", "ForAnyValue")


class UnsupportedCondition(ValueError):
    """A condition this evaluator cannot decide as AWS would: refuse, never guess."""


def normalized_record_name(name: str) -> str:
    """A record name as Route 53 puts it in ``route53:ChangeResourceRecordSetsNormalizedRecordNames``."""
    lowered = name.lower()
    if lowered.endswith("."):
        lowered = lowered[:-1]
    return "".join(char if _PLAIN.fullmatch(char) else f"\\{ord(char):03o}" for char in lowered)


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ARN operators match segment by segment; each of the six colon-delimited parts takes wildcards."""
    wanted, got = pattern.split(":", 5), value.split(":", 5)
    return len(wanted) == len(got) == 6 and all(_like(w, g) for w, g in zip(wanted, got, strict=True))


_COMPARE = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringEqualsIgnoreCase": lambda pattern, value: pattern.lower() == value.lower(),
    "StringLike": _like,
    "ArnEquals": _arn_like,  # the documentation: ArnEquals and ArnLike behave identically
    "ArnLike": _arn_like,
    "Bool": lambda pattern, value: pattern.lower() == value.lower(),
}


def _matches(operator: str, policy_values: Sequence[str], value: str) -> bool:
    """One context value against an operator and its policy values (ORed; negated: none matches)."""
    negated = "Not" in operator
    compare = _COMPARE[operator.replace("Not", "", 1)]
    hit = any(compare(pattern, value) for pattern in policy_values)
    return not hit if negated else hit


def _parse(qualified: str) -> tuple[str, str, bool]:
    """``ForAnyValue:StringLikeIfExists`` → (set operator, operator, if-exists); refused if not implemented."""
    set_operator, _, operator = qualified.rpartition(":")
    if_exists = operator.endswith("IfExists") and operator != "IfExists"
    operator = operator.removesuffix("IfExists") if if_exists else operator
    known = operator in _OPERATORS or (operator == "Null" and not set_operator and not if_exists)
    if not known or set_operator not in _SET_OPERATORS:
        raise UnsupportedCondition(f"condition operator {qualified!r} is not implemented")
    return set_operator, operator, if_exists


def _policy_values(wanted: object) -> list[str]:
    values = [wanted] if isinstance(wanted, (str, bool)) else list(wanted)  # type: ignore[call-overload]
    values = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    if any("${" in v for v in values):
        raise UnsupportedCondition(f"a policy variable the rehearsal world did not resolve: {values}")
    return values


def _key_holds(set_operator: str, operator: str, if_exists: bool, wanted: list[str], values: list[str] | None) -> bool:
    """One key of one operator: ``values`` is None when the request context does not hold the key."""
    if operator == "Null":
        return any((w.lower() == "true") == (values is None) for w in wanted)
    if values is None and if_exists:
        return True
    values = values or []
    if set_operator == "ForAllValues":
        return all(_matches(operator, wanted, v) for v in values)
    if set_operator == "ForAnyValue":
        return any(_matches(operator, wanted, v) for v in values)
    if not values:
        return "Not" in operator
    if len(values) > 1:
        raise UnsupportedCondition(f"a plain {operator} does not apply to a key with several values: {values}")
    return _matches(operator, wanted, values[0])


def context_by_name(context: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The request context keyed by lowercased name; two keys differing only by case are refused."""
    folded: dict[str, list[str]] = {}
    for key, values in context.items():
        name = key.lower()
        if name in folded:
            raise UnsupportedCondition(f"the request context holds {key!r} twice, differing only by case")
        folded[name] = list(values)
    return folded


def is_modelled(name: str, modelled: Collection[str] | None) -> bool:
    """Whether the world knows key ``name`` (lowercase) exactly; entries ending in ``/`` name a family of keys."""
    if modelled is None:
        return True
    return name in modelled or ("/" in name and name.split("/", 1)[0] + "/" in modelled)


def condition_holds(
    condition: Mapping[str, Mapping[str, object]],
    context: Mapping[str, Sequence[str]],
    modelled: Collection[str] | None = None,
) -> bool:
    """Whether a statement's ``Condition`` block holds for the request ``context`` (key → its values).

    ``modelled``: the lowercased keys (and ``family/`` prefixes) whose absence from
    ``context`` is AWS's answer too; None when ``context`` is complete.
    """
    folded = context_by_name(context)
    checks = []
    for qualified, keys in condition.items():
        parsed = _parse(qualified)
        for key, wanted in keys.items():
            name = key.lower()
            if name not in folded and not is_modelled(name, modelled):
                raise UnsupportedCondition(f"the rehearsal world does not fill condition key {key!r}")
            checks.append((*parsed, _policy_values(wanted), folded.get(name)))
    return all(_key_holds(*check) for check in checks)


def change_context(changes: Sequence[tuple[str, str, str]]) -> dict[str, list[str]]:
    """The ``ChangeResourceRecordSets`` condition keys of a change batch of (action, name, type) triples."""
    return {
        "route53:ChangeResourceRecordSetsActions": sorted({action for action, _, _ in changes}),
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(
            {normalized_record_name(name) for _, name, _ in changes}
        ),
        "route53:ChangeResourceRecordSetsRecordTypes": sorted({kind for _, _, kind in changes}),
    }
