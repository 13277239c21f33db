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
    "operator",
    [
        "NumericLessThan",
        "DateGreaterThan",
        "IpAddress",
        "BinaryEquals",
        "ForAllValues:NumericLessThan",
        "NullIfExists",  # the documentation: IfExists goes with any operator "except the Null condition"
        "ForAnyValue:Null",
        "IfExists",
    ],
)
def test_an_operator_it_does_not_implement_is_refused(operator):
    with pytest.raises(UnsupportedCondition, match=operator):
        condition_holds({operator: {"k": "v"}}, {"k": ["v"]})


# -- "IAM JSON policy elements: Condition": key names are not case-sensitive, values per operator --


@pytest.mark.parametrize(
    ("policy_key", "context_key"),
    [
        ("aws:SourceIP", "AWS:SourceIp"),  # the page's own example
        ("AWS:PrincipalArn", "aws:PrincipalArn"),
        ("aws:ResourceTag/TagKey1", "aws:ResourceTag/tagkey1"),  # "matches ... TagKey1 or tagkey1"
        ("aws:RequestTag/team", "aws:RequestTag/Team"),
        ("aws:PrincipalTag/Department", "aws:principaltag/department"),
    ],
)
def test_context_key_names_are_not_case_sensitive(policy_key, context_key):
    assert condition_holds({"StringEquals": {policy_key: "v"}}, {context_key: ["v"]})
    assert not condition_holds({"StringNotEquals": {policy_key: "v"}}, {context_key: ["v"]})


def test_values_are_compared_as_the_operator_says():
    # The page's example: StringEquals matches only johndoe, StringEqualsIgnoreCase JohnDoe too.
    assert not condition_holds({"StringEquals": {"aws:username": "johndoe"}}, {"aws:username": ["JohnDoe"]})
    assert condition_holds({"StringEqualsIgnoreCase": {"aws:username": "johndoe"}}, {"aws:username": ["JohnDoe"]})
    assert not condition_holds(
        {"StringNotEqualsIgnoreCase": {"aws:username": "johndoe"}}, {"aws:username": ["JOHNDOE"]}
    )
    assert not condition_holds({"StringLike": {"aws:username": "john*"}}, {"aws:username": ["JohnDoe"]})


def test_two_context_keys_differing_only_by_case_are_refused():
    # The page: a resource tagged ec2=test1 and EC2=test2 "can result in unexpected condition failures".
    context = {"aws:ResourceTag/ec2": ["test1"], "aws:ResourceTag/EC2": ["test2"]}
    with pytest.raises(UnsupportedCondition, match="differing only by case"):
        condition_holds({"StringEquals": {"aws:ResourceTag/EC2": "test1"}}, context)


# -- "Condition operators": ...IfExists and Null ----------------------------------------------


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*"]}}, {}, True),  # absent: true
        ({"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*"]}}, {"ec2:InstanceType": ["t2.micro"]}, True),
        ({"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*"]}}, {"ec2:InstanceType": ["m5.large"]}, False),
        ({"StringNotEqualsIfExists": {"aws:ResourceTag/team": "a"}}, {}, True),
        ({"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:sns:*:1:t"}}, {"aws:SourceArn": ["arn:aws:sns:r:1:t"]}, True),
        ({"Null": {"aws:TokenIssueTime": "true"}}, {}, True),  # the page's example: key absent
        ({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": ["2024-01-01T00:00:00Z"]}, False),
        ({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": ["2024-01-01T00:00:00Z"]}, True),
        ({"Null": {"aws:TokenIssueTime": False}}, {}, False),
    ],
)
def test_if_exists_and_null_test_whether_the_key_is_present(condition, context, holds):
    assert condition_holds(condition, context) is holds


# -- a key the world cannot fill is refused, never taken as absent ---------------------------


def test_a_key_outside_the_modelled_ones_is_refused_not_taken_as_absent():
    deny_unless_vpc = {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}}
    with pytest.raises(UnsupportedCondition, match="aws:SourceVpc"):
        condition_holds(deny_unless_vpc, {}, modelled={"aws:principalarn"})
    # A modelled key's absence is AWS's answer too; a family prefix covers every key of it.
    assert condition_holds({"StringNotEquals": {"aws:PrincipalArn": "x"}}, {}, modelled={"aws:principalarn"})
    tagged = {"StringEquals": {"aws:ResourceTag/Team": "a"}}
    assert not condition_holds(tagged, {}, modelled={"aws:resourcetag/"})
    assert condition_holds(tagged, {"aws:resourcetag/team": ["a"]}, modelled=set())  # present: known
