"""The rehearsal world's condition evaluator against AWS's documented semantics and examples."""

from __future__ import annotations

import pytest

from tools.rehearsal.iam_conditions import UnsupportedCondition, condition_holds, normalized_record_name


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("www.Example.COM.", "www.example.com"),  # lowercase, no trailing dot
        ("*.example.com", "\\052.example.com"),  # the documentation's own example: \052 for *
        ("a b.example.com", "a\\040b.example.com"),
        ("_dmarc.example.com", "_dmarc.example.com"),  # underscore and hyphen stay
        ("pm-bounces.example.com", "pm-bounces.example.com"),
    ],
)
def test_route53_normalises_record_names(name, normalized):
    assert normalized_record_name(name) == normalized


TAGS = "aws:TagKeys"


@pytest.mark.parametrize(
    ("condition", "request_values", "holds"),
    [
        # ForAllValues: every request value matches; an absent or empty key holds.
        ({"ForAllValues:StringLike": {TAGS: ["key1*"]}}, ["key1a", "key1b"], True),
        ({"ForAllValues:StringLike": {TAGS: ["key1*"]}}, ["key1", "key2"], False),
        ({"ForAllValues:StringLike": {TAGS: ["key1*"]}}, [], True),
        # ForAnyValue: at least one matches; an absent key does not hold.
        ({"ForAnyValue:StringEquals": {TAGS: ["key1", "key2"]}}, ["key1", "key3"], True),
        ({"ForAnyValue:StringEquals": {TAGS: ["key1", "key2"]}}, ["key3"], False),
        ({"ForAnyValue:StringEquals": {TAGS: ["key1"]}}, [], False),
        # Negated operators: a value must match none of the policy's values.
        ({"ForAllValues:StringNotEquals": {TAGS: ["a", "b"]}}, ["c", "d"], True),
        ({"ForAllValues:StringNotEquals": {TAGS: ["a", "b"]}}, ["c", "b"], False),
        ({"ForAnyValue:StringNotLike": {TAGS: ["a*"]}}, ["ab", "c"], True),
        # Plain operators on a single value; an absent key fails, except for a negated operator.
        ({"StringEquals": {TAGS: ["a", "b"]}}, ["b"], True),
        ({"StringEquals": {TAGS: "a"}}, [], False),
        ({"StringNotEquals": {TAGS: "a"}}, [], True),
        # Case sensitive; * spans dots; ? is one character.
        ({"StringEquals": {TAGS: "A"}}, ["a"], False),
        ({"StringLike": {TAGS: "*.example.com"}}, ["a.b.example.com"], True),
        ({"StringLike": {TAGS: "?.example.com"}}, ["ab.example.com"], False),
    ],
)
def test_operators_follow_the_documentation(condition, request_values, holds):
    context = {TAGS: request_values} if request_values else {}
    assert condition_holds(condition, context) is holds


def test_keys_and_operators_are_anded():
    condition = {"StringEquals": {"k1": "a", "k2": "b"}, "StringLike": {"k3": "x*"}}
    assert condition_holds(condition, {"k1": ["a"], "k2": ["b"], "k3": ["xy"]})
    assert not condition_holds(condition, {"k1": ["a"], "k2": ["c"], "k3": ["xy"]})


@pytest.mark.parametrize(
    ("condition", "value", "holds"),
    [
        # ARN operators match part by part; ArnEquals and ArnLike behave alike.
        (
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*-Email-Fn-*"}},
            "arn:aws:iam::1:role/a-Email-Fn-x",
            True,
        ),
        ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/*"}}, "arn:aws:iam::1:role/x", True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::1:role/*"}}, "arn:aws:iam::2:role/x", False),
        ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::1:role/*"}}, "arn:aws:iam::2:role/x", True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::1:role/*"}}, "not-an-arn", False),
        ({"Bool": {"aws:SecureTransport": "true"}}, "True", True),
        ({"Bool": {"aws:SecureTransport": True}}, "false", False),
    ],
)
def test_arn_and_bool_operators(condition, value, holds):
    (key,) = next(iter(condition.values()))
    assert condition_holds(condition, {key: [value]}) is holds


@pytest.mark.parametrize(
    "operator", ["StringEqualsIfExists", "ArnLikeIfExists", "Null", "ForAllValues:NumericLessThan"]
)
def test_an_operator_it_does_not_implement_is_refused(operator):
    with pytest.raises(UnsupportedCondition, match=operator):
        condition_holds({operator: {"k": "v"}}, {"k": ["v"]})
