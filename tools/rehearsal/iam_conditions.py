"""IAM condition evaluation for the string operators this project's policies use, and Route 53's names.

The first piece of the rehearsal world's policy evaluator (issue 20): enough to
prove what the partition's DNS-records role may change, evaluated on the rendered
template's policy. Never imported by the product.

Semantics, each from AWS's documentation:

- Condition operators (IAM User Guide, "IAM JSON policy elements: Condition
  operators"): ``StringEquals``/``StringNotEquals`` compare exactly and are case
  sensitive; ``StringLike``/``StringNotLike`` take ``*`` (any run of characters,
  dots included) and ``?`` (one character). Several values for one key are ORed;
  a negated operator is true when the context value matches none of them.
- Several keys under one operator, and several operators in one ``Condition``
  block, are ANDed ("Creating a condition with multiple keys or values").
- Set operators for multivalued context keys ("Single-valued vs. multivalued
  context keys"): ``ForAllValues:`` is true when every value in the request
  satisfies the operator, and also when the key is absent or empty;
  ``ForAnyValue:`` is true when at least one request value does, and false when
  the key is absent or empty.
- ARN operators (same page): ``ArnEquals`` and ``ArnLike`` behave alike; the ARN is
  split at its first five colons and each part matched with the wildcards.
  ``Bool`` compares ``true``/``false`` case-insensitively.
- A key absent from the request: a plain (non-set) operator is false for it,
  except a negated operator, which is true ("Condition operator to check
  existence of condition keys"; ``...IfExists`` is not used here and refused).
- ``route53:ChangeResourceRecordSetsNormalizedRecordNames`` (Route 53 Developer
  Guide, "Using IAM policy conditions for fine-grained access control",
  "Normalizing the Route 53 condition key values"): all letters lowercase, no
  trailing dot, and every character other than a-z, 0-9, hyphen, underscore and
  the label-separating period escaped as a backslash and three octal digits
  (``\\052`` for ``*``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_PLAIN = re.compile(r"[a-z0-9\-_.]")
_OPERATORS = (
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "Bool",
)


class UnsupportedCondition(ValueError):
    """A condition operator this evaluator does not implement: refuse, never guess."""


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


def _matches(operator: str, policy_values: Sequence[str], value: str) -> bool:
    """One context value against an operator and its policy values (ORed; negated: none matches)."""
    positive = operator.replace("Not", "", 1)
    if positive == "Bool":
        return any(str(p).lower() == value.lower() for p in policy_values)
    compare = {
        "StringLike": _like,
        "ArnLike": _arn_like,
        "ArnEquals": _arn_like,  # the documentation: ArnEquals and ArnLike behave the same
    }.get(positive, lambda pattern, v: pattern == v)
    hit = any(compare(str(p), value) for p in policy_values)
    return not hit if "Not" in operator else hit


def condition_holds(condition: Mapping[str, Mapping[str, object]], context: Mapping[str, Sequence[str]]) -> bool:
    """Whether a statement's ``Condition`` block holds for the request ``context`` (key → its values)."""
    for qualified, keys in condition.items():
        set_operator, _, operator = qualified.rpartition(":")
        if operator not in _OPERATORS or set_operator not in ("", "ForAllValues", "ForAnyValue"):
            raise UnsupportedCondition(f"condition operator {qualified!r} is not implemented")
        for key, wanted in keys.items():
            policy_values = [str(wanted)] if isinstance(wanted, (str, bool)) else [str(w) for w in wanted]
            values = list(context.get(key, []))
            if set_operator == "ForAllValues":
                holds = all(_matches(operator, policy_values, v) for v in values)
            elif set_operator == "ForAnyValue":
                holds = any(_matches(operator, policy_values, v) for v in values)
            elif not values:
                holds = "Not" in operator
            elif len(values) > 1:
                raise UnsupportedCondition(f"{key} has several values: a plain {operator} does not apply to it")
            else:
                holds = _matches(operator, policy_values, values[0])
            if not holds:
                return False
    return True


def change_context(changes: Sequence[tuple[str, str, str]]) -> dict[str, list[str]]:
    """The ``ChangeResourceRecordSets`` condition keys of a change batch of (action, name, type) triples."""
    return {
        "route53:ChangeResourceRecordSetsActions": sorted({action for action, _, _ in changes}),
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(
            {normalized_record_name(name) for _, name, _ in changes}
        ),
        "route53:ChangeResourceRecordSetsRecordTypes": sorted({kind for _, _, kind in changes}),
    }
