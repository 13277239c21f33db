"""Hypothesis strategies for CloudFormation-shaped documents with adversarial keys and scalars.

Used by tests/unit/test_yaml_emitter.py to compare templates/yaml_emitter.py with
cfn_flip (troposphere's ``to_yaml``) byte for byte. Each strategy aims at a corner
where PyYAML or cfn_flip do something special: YAML 1.1 implicit types, leading
zeros (cfn_flip quotes them), keys of 123 characters and more (PyYAML's explicit
``? key``), strings of 200 characters and more (folded), multi-line strings ending
in blank lines (``|+``), every intrinsic function with every argument shape, Step
Functions' ``DefinitionString`` given as a mapping, Unicode and control characters.
"""

from __future__ import annotations

import string

from hypothesis import strategies as st

PRINTABLE = string.ascii_letters + string.digits + " :#-*&!|>'\"%@`,[]{}?./=+_~^$;\\()<"
# YAML 1.1's implicit types (yaml.org/type) and strings that look like them.
IMPLICIT = [
    "", " ", "y", "Y", "n", "yes", "No", "TRUE", "false", "off", "On", "null", "Null", "~", "<<", "=",
    ".inf", "-.Inf", ".NaN", "0", "00", "007", "0123", "08", "09.5", "0x1F", "0o17", "0b101", "1_000", "+1", "-1",
    "1:30", "190:20:30", "1e3", "1E+3", "1.5e-3", "1.5", ".5", "1.", "-.5", "2012-10-17", "2012-1-7",
    "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "1.2.3", "10.0.0.1", "1-2", "1:2:3:4",
    "0.0.0.0/0", "v1.0", "---", "...", "- x", "? x", ": x", "x:", "x: y", "a #b", "#x", "&a", "*a", "!x",
    "|", ">", "%x", "@x", "`x", "'q'", '"q"', "[x]", "{x}", "x,y", "a\\b", "arn:aws:iam::111122223333:root",
    "012345678901", "111122223333", "k=rsa;p=AAAA", "^$|^[A-Za-z0-9]$",
]  # fmt: skip
# Strings the first (random) oracle test collected: indicators, numbers, dates, spaces, non-ASCII.
TRICKY = [
    "",
    " ",
    "a b",
    "x:",
    "x: y",
    "a:b",
    ":x",
    "-",
    "- x",
    "-x",
    "?",
    "? x",
    "#x",
    "a #b",
    "a#b",
    "*.x",
    "&a",
    "!x",
    "|",
    ">",
    "'q'",
    '"q"',
    "%x",
    "@x",
    "`x",
    ",x",
    "[x]",
    "{x}",
    "x,y",
    "0",
    "00",
    "0123",
    "123",
    "-1",
    "+1",
    "1.5",
    ".5",
    "1e3",
    "1_000",
    "0x1F",
    "0o17",
    "0b101",
    "1:30",
    "190:20:30",
    ".inf",
    "-.inf",
    ".nan",
    "yes",
    "No",
    "TRUE",
    "off",
    "On",
    "null",
    "Null",
    "~",
    "<<",
    "=",
    "2012-10-17",
    "2001-12-14t21:59:43.10-05:00",
    "1.2.3",
    "10.0.0.1",
    "v1.0",
    "arn:",
    "arn:aws:iam::111122223333:root",
    ":route53:::change/*",
    "us-east-1",
    "partition-email/v2",
    "^$|^[A-Za-z0-9]$",
    "k=rsa;p=AAAA",
    "a" * 150,
    "---",
    "...",
    "x ",
    " x",
    "a\\b",
    "é",
    "line\nbreak",
    "tab\there",
]

INTRINSICS = [
    "Ref", "Condition", "Fn::GetAtt", "Fn::Join", "Fn::If", "Fn::Sub", "Fn::Select", "Fn::Split",
    "Fn::FindInMap", "Fn::Base64", "Fn::Cidr", "Fn::GetAZs", "Fn::ImportValue", "Fn::Transform", "Fn::And",
    "Fn::Or", "Fn::Not", "Fn::Equals", "Fn::Length", "Fn::ToJsonString", "Fn::ForEach::Topics",
]  # fmt: skip
RESOURCE_TYPES = [
    "AWS::Route53::RecordSet", "AWS::StepFunctions::StateMachine", "AWS::IAM::Role", "AWS::Lambda::Function",
]  # fmt: skip


def now_and_then(common, rare, percent: int):
    """``rare`` in about ``percent``% of draws, else ``common`` (shrinks toward ``common``).

    A document with many leaves is refused as a whole by one refused leaf: what the
    emitter must refuse comes rarely, so most documents are written and compared.
    """
    return st.integers(0, 99).flatmap(lambda n: rare if n >= 100 - percent else common)


printable = st.text(alphabet=PRINTABLE, max_size=24)
words = st.text(alphabet=string.ascii_letters + string.digits + "_-.:/", min_size=1, max_size=16)
leading_zero = st.builds(
    lambda rest: "0" + rest, st.text(alphabet=string.ascii_letters + string.digits + "_.", max_size=12)
)
unicode_text = st.text(max_size=10)  # every code point: non-ASCII, control characters, surrogates are excluded
control = st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=3).map(lambda c: f"a{c}b")
long_text = st.text(alphabet=string.ascii_letters + " .-", min_size=110, max_size=260)
few_lines = st.lists(printable, min_size=2, max_size=9).map("\n".join)


@st.composite
def block_text(draw) -> str:
    """Ten or more lines (a literal block): blank lines inside, sometimes odd ones, blank lines at the end."""
    line = st.one_of(words, st.just(""), printable)
    first = draw(st.one_of(words, line))
    lines = [first, *draw(st.lists(line, min_size=9, max_size=13))]
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n", "\n\n\n"]))


# Near YAML 1.1's implicit types: numbers, sexagesimals, dates and times in every digit count.
implicit_like = st.one_of(
    st.from_regex(r"[-+]?[0-9._:eExXoObB]{1,8}|[-+]?\.[a-zA-Z]{2,4}|[yYnNoOtTfF][a-zA-Z]{0,4}", fullmatch=True),
    st.from_regex(
        r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]| +)?([0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]*)?"
        r"( *(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)?",
        fullmatch=True,
    ),
)
writable = st.one_of(st.sampled_from(IMPLICIT + TRICKY), implicit_like, printable, words, leading_zero, block_text())
strings = now_and_then(writable, st.one_of(unicode_text, control, long_text, few_lines), 6)
scalars = st.one_of(
    strings,
    strings,
    st.integers(min_value=-(2**40), max_value=2**40),
    st.booleans(),
    now_and_then(st.integers(0, 9), st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.none()), 20),
)
identifiers = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True)
keys = now_and_then(
    st.one_of(
        identifiers,
        leading_zero,
        st.sampled_from([k for k in IMPLICIT + TRICKY if k and "\n" not in k]),
        implicit_like,
        st.sampled_from(["AWS::CloudFormation::Init", "Fn::Transform", "Ref", "Condition", "Fn::Sub", "a b", "x.y"]),
        st.text(alphabet=PRINTABLE, min_size=1, max_size=24),
    ),
    now_and_then(
        st.one_of(st.just(""), unicode_text), st.text(alphabet=string.ascii_letters, min_size=120, max_size=126), 60
    ),
    5,
)


def intrinsic(children):
    """Every intrinsic function with every argument shape (and GetAtt's legal Ref / list attributes)."""
    getatt = now_and_then(
        st.one_of(words.map(lambda w: f"Resource.{w}"), st.lists(words, min_size=1, max_size=3)),
        st.one_of(
            st.builds(lambda w: ["Resource", {"Ref": w}], words),
            st.builds(lambda w: ["Resource", [w]], words),
            st.lists(st.integers(0, 9), min_size=1, max_size=2),
        ),
        8,
    )
    scalar = now_and_then(strings, scalars, 15)  # cfn_flip fails on a tagged number or boolean
    argument = st.one_of(scalar, st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=3))
    return st.one_of(
        st.builds(lambda a: {"Fn::GetAtt": a}, getatt),
        st.builds(lambda name, a: {name: a}, st.sampled_from(INTRINSICS), argument),
    )


values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4), intrinsic(children)
    ),
    max_leaves=12,
)


@st.composite
def resource(draw) -> dict:
    """A resource; a state machine's DefinitionString is sometimes a mapping (cfn_flip rewrites it as JSON)."""
    kind = draw(st.sampled_from(RESOURCE_TYPES))
    properties = draw(st.dictionaries(keys, values, max_size=4))
    if kind == "AWS::StepFunctions::StateMachine":
        properties["DefinitionString"] = draw(
            st.one_of(
                st.dictionaries(keys, values, max_size=4),
                st.builds(lambda v: {"Fn::Sub": v}, values),
                strings,
            )
        )
    body = {"Type": kind, "Properties": properties}
    extra = draw(
        st.dictionaries(
            st.sampled_from(["Condition", "DependsOn", "Metadata", "UpdateReplacePolicy"]), values, max_size=2
        )
    )
    return {**body, **extra}


@st.composite
def documents(draw) -> dict:
    """A template: resources, the other sections, and sometimes a scalar last (``Transform`` sorts after the rest)."""
    document = {"Resources": draw(st.dictionaries(keys, resource(), min_size=1, max_size=3))}
    sections = st.sampled_from(["AWSTemplateFormatVersion", "Description", "Mappings", "Outputs", "Parameters"])
    document.update(draw(st.dictionaries(st.one_of(sections, keys), values, max_size=2)))
    if draw(st.booleans()):
        document["Transform"] = draw(st.one_of(strings, values))
    return document
