"""templates/yaml_emitter.py writes exactly what the committed templates hold, and refuses what it cannot.

The oracle is the path the committed bytes came from (troposphere's: JSON with
sorted keys, re-read by cfn_flip, emitted by PyYAML). On the real templates the
bytes must be identical; on documents Hypothesis generates (tests/emitter_strategies.py:
adversarial keys and scalars, every intrinsic function with every argument shape)
every output must be identical too, or a loud EmitterError, never a different byte.
The suite runs 400 of them, repeatably; ``--hypothesis-profile thorough`` runs 10,000 (about five minutes on two cores).
"""

from __future__ import annotations

import json
import re

import cfn_flip
import pytest
import yaml
from hypothesis import event, given, note

from templates.partition_email import PartitionEmail
from templates.render import props_for
from templates.yaml_emitter import EmitterError, dump
from tests.emitter_strategies import documents


def oracle(document: dict) -> str:
    return cfn_flip.to_yaml(json.dumps(document, indent=4, sort_keys=True), clean_up=False, long_form=False)


@pytest.mark.vcheck("V-IAC-003")
def test_the_real_templates_are_byte_identical(dev_config, prod_config, handler_source):
    for config in (dev_config, prod_config):
        template = PartitionEmail(props_for(config, handler_source)).template
        assert dump(template.to_dict()) == template.to_yaml()


@pytest.mark.slow  # about 9 s: first, not the last test a worker runs while the other waits
@given(documents())
def test_any_document_is_cfn_flips_bytes_or_refused(document):
    """The emitter's promise, against cfn_flip on adversarial CloudFormation-shaped documents (Hypothesis).

    Bounded in the default suite; a larger budget: ``pytest tests/unit/test_yaml_emitter.py
    --hypothesis-profile thorough`` (tests/conftest.py registers the profiles).
    """
    try:
        expected = oracle(document)
    except (TypeError, AttributeError, ValueError, yaml.YAMLError) as exc:  # cfn_flip cannot write it: refuse
        note(f"cfn_flip raised {type(exc).__name__}: {exc}")
        expected = None
    try:
        ours = dump(document)
    except EmitterError:
        event("refused")
        return
    event("written")
    assert expected is not None, "the emitter wrote a document cfn_flip cannot write"
    assert ours == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "float values are outside this emitter's subset"),
        (None, "NoneType values are outside this emitter's subset"),
        ("a\nb", "a string with line breaks is written only as a literal block"),
        ("é", "only printable ASCII strings are written"),
        ("x" * 200, "strings of 200 characters or more"),
        ("\n".join(["x "] * 12), "trailing spaces"),
    ],
)
def test_values_outside_the_subset_are_refused_loudly(value, message):
    with pytest.raises(EmitterError, match=message.replace("(", "\\(").replace(".", "\\.")):
        dump({"Key": value})


def nested(depth: int, inner: dict) -> dict:
    for _ in range(depth):
        inner = {"a": inner}
    return inner


STATE_MACHINE = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"DefinitionString": {"StartAt": "A"}}}


@pytest.mark.parametrize(
    "document",
    [
        {"Resources": {"03EventSourceMapping": {"Type": "X"}}, "Metadata": {"01_install": {"command": "x"}}},
        {"Resources": {"K" * 122: "a"}},
        {"Resources": {"Machine": STATE_MACHINE}},
        {"Resources": {"Machine": {**STATE_MACHINE, "Properties": {"DefinitionString": {"Fn::Sub": "x"}}}}},
        {"Resources": {"A": "x"}, "Transform": "line\n" * 10 + "\n"},
        {"Resources": {"A": "\n" + "line\n" * 10}},
        {"Resources": {"A": "  indented\n" * 10}},
        {"Resources": {"A": ["2012-1-7", "2012-10-17", "1.2.3", "10.0.0.1", "1-2", "2012-10-17 1:2:3"]}},
    ],
    ids=[
        "leading-zero keys",
        "122-char key",
        "state machine",
        "state machine Fn::Sub",
        "|+ last",
        "|2",
        "|2 spaces",
        "dates and versions",
    ],  # fmt: skip
)
def test_the_shapes_a_review_found_are_written_as_cfn_flip_writes_them(document):
    assert dump(document) == oracle(document)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"A": {"Fn::GetAtt": ["Res", {"Ref": "Attr"}]}}, "Fn::GetAtt with a part that is not a string"),
        ({"A": {"Fn::GetAtt": ["Res", ["Attr"]]}}, "Fn::GetAtt with a part that is not a string"),
        ({"K" * 123: "a"}, "keys of 123 characters or more are written in the explicit '? key' form"),
        ({"": "a"}, "empty mapping keys"),
        ({"A": {"K": "x" * 196}}, "a line of 201 columns would be folded"),
        (nested(45, {"K" * 120: {"M": 1}}), "a line of 211 columns would be folded"),  # a key line, too
    ],
)
def test_shapes_cfn_flip_cannot_write_or_writes_otherwise_are_refused(document, message):
    # Old code: a TypeError for the GetAtt shapes, and silently different bytes for the long keys.
    with pytest.raises(EmitterError, match=re.escape(message)):
        dump(document)


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
