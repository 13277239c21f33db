"""templates/yaml_emitter.py writes exactly what the committed templates hold, and refuses what it cannot.

The oracle is the path the committed bytes came from (troposphere's: JSON with
sorted keys, re-read by cfn_flip, emitted by PyYAML). On the real templates the
bytes must be identical; on hundreds of generated templates every output must be
identical too, or a loud EmitterError, never a different byte.
"""

from __future__ import annotations

import json
import random
import string

import cfn_flip
import pytest

from templates.partition_email import PartitionEmail
from templates.render import props_for
from templates.yaml_emitter import EmitterError, dump

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
KEYS = ["Name", "Value", "Type", "Properties", "Key", "A1", "b.c", "x-y", "Resource", "Sid", "Tags", "TTL"]


def random_string(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(TRICKY)
    alphabet = string.ascii_letters + string.digits + " :#-*&!|>'\"%@`,[]{}?./=+_~^$;"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))


def random_value(rng: random.Random, depth: int):
    roll = rng.random()
    if depth <= 0 or roll < 0.45:
        kind = rng.random()
        if kind < 0.1:
            return rng.randint(-5, 100000)
        if kind < 0.15:
            return rng.choice([True, False])
        if kind < 0.18:
            return "\n".join(f"line {i} of a block" for i in range(rng.randint(10, 14))) + rng.choice(["", "\n"])
        return random_string(rng)
    if roll < 0.6:
        fn = rng.choice(["Ref", "Condition", "Fn::GetAtt", "Fn::Join", "Fn::If", "Fn::Sub", "Fn::Select"])
        if fn in ("Ref", "Condition", "Fn::Sub"):
            return {fn: random_string(rng)}
        if fn == "Fn::GetAtt":
            return {fn: ["Resource", rng.choice(["Arn", "NameServers"])]}
        return {fn: [random_value(rng, depth - 1) for _ in range(rng.randint(1, 3))]}
    if roll < 0.8:
        return [random_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): random_value(rng, depth - 1) for _ in range(rng.randint(0, 4))}


def oracle(document: dict) -> str:
    return cfn_flip.to_yaml(json.dumps(document, indent=4, sort_keys=True), clean_up=False, long_form=False)


@pytest.mark.vcheck("V-IAC-003")
def test_the_real_templates_are_byte_identical(dev_config, prod_config, handler_source):
    for config in (dev_config, prod_config):
        template = PartitionEmail(props_for(config, handler_source)).template
        assert dump(template.to_dict()) == template.to_yaml()


def test_generated_templates_are_identical_or_refused():
    rng = random.Random(20261126)
    written = refused = 0
    for _ in range(1500):
        document = {"Resources": {rng.choice(KEYS): random_value(rng, 4) for _ in range(rng.randint(1, 4))}}
        expected = oracle(document)
        try:
            ours = dump(document)
        except EmitterError:
            refused += 1
            continue
        assert ours == expected, json.dumps(document)
        written += 1
    # Refusals are for the corners (control characters, multi-line strings, odd numbers), not the rule.
    assert written > 3 * refused, (written, refused)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "float values are outside this emitter's subset"),
        (None, "NoneType values are outside this emitter's subset"),
        ("a\nb", "a string with line breaks is written only as a literal block"),
        ("é", "only printable ASCII strings are written"),
        ("x" * 200, "strings of 200 characters or more"),
        ("1.2.3", "cannot tell how YAML 1.1 reads '1.2.3'"),
        ("\n".join(["x "] * 12), "trailing spaces"),
    ],
)
def test_values_outside_the_subset_are_refused_loudly(value, message):
    with pytest.raises(EmitterError, match=message.replace("(", "\\(").replace(".", "\\.")):
        dump({"Key": value})


def test_the_committed_yaml_is_written_by_this_emitter_not_cfn_flip(monkeypatch, dev_config, handler_source):
    """render() never asks cfn_flip (troposphere's to_yaml) for the bytes: a broken cfn_flip changes nothing."""
    import cfn_flip

    from templates.render import render

    expected = render(dev_config, handler_source)

    def refuse(*_, **__):
        raise AssertionError("cfn_flip was asked to write the template")

    monkeypatch.setattr(cfn_flip, "to_yaml", refuse)
    monkeypatch.setattr(cfn_flip, "dump_yaml", refuse)
    assert render(dev_config, handler_source) == expected


def test_the_deferred_cfn_flip_is_the_real_module_on_first_use():
    """The stand-in in templates/__init__.py only delays the import: troposphere's to_yaml still works."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import sys, templates, types;"
        "from instances.registry import load_registry;"
        "from templates.render import props_for, read_handler_source, render;"
        "config = load_registry().lookup('Alpha002', 'dev');"
        "render(config, read_handler_source());"
        "print(type(sys.modules.get('yaml')) is types.ModuleType);"
        "from templates.partition_email import PartitionEmail;"
        "PartitionEmail(props_for(config, read_handler_source())).template.to_yaml();"
        "print(type(sys.modules['cfn_flip']) is types.ModuleType)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"], "render loads no YAML library; to_yaml gets the real cfn_flip"
