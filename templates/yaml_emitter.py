"""Our own YAML emitter for CloudFormation templates: the bytes of the committed files, stated here.

The committed templates were first written by troposphere's YAML path (JSON, re-read
by cfn_flip, emitted by PyYAML's pure-Python emitter at 200 columns). A new release
of either could change every committed byte; this module pins the format instead,
for the subset our templates use, and refuses loudly (``EmitterError``) anything
outside it rather than guess:

- block mappings with keys sorted, block sequences indented two spaces under their
  key (``key:`` then ``  - item``), ``{}`` and ``[]`` for empty ones; keys are
  written as string scalars (so ``'01_install':`` is quoted);
- intrinsic functions in short form: ``!Ref 'X'``, ``!GetAtt 'A.B'``,
  ``!Condition 'X'``, ``!Join`` + a sequence, and so on (a single-key mapping whose
  key is ``Ref``, ``Condition`` or ``Fn::*``); tagged scalars are single-quoted;
- integers and booleans as CloudFormation reads them (``90``, ``true``);
- strings: plain when YAML 1.1 reads them back as the same string (no indicator
  characters where they matter, nothing PyYAML's resolver reads as a number,
  boolean, null, timestamp, ``<<`` or ``=``), single-quoted otherwise (``''``
  doubled; and, as cfn_flip does, every string starting with ``0``); a string of
  ten or more lines (the inlined handler) as a literal block (``|``, ``|-``, ``|+``,
  ``|2`` when it starts with a space or a blank line; a document ending in ``|+``
  ends with ``...``);
- cfn_flip's one rewrite: a Step Functions ``DefinitionString`` given as a mapping
  (without ``Fn::Sub``) becomes its JSON text in a literal block.

Refused (``EmitterError``; cfn_flip writes these in forms this module does not, or
fails on them): floats, ``None``, tagged numbers and booleans, non-ASCII or control
characters, strings with 1 to 9 line breaks, lines over 200 columns, strings of 200
characters or more (folded), trailing spaces inside a literal block (double-quoted),
empty keys and keys of 123 characters or more (``? key``), ``Fn::GetAtt`` with a
part that is not a string, empty intrinsic arguments. Proven against cfn_flip by
tests/unit/test_yaml_emitter.py (Hypothesis).
"""

from __future__ import annotations

import json
import re

from templates.errors import TemplateError

WIDTH = 200
STEP_FUNCTIONS = "AWS::StepFunctions::StateMachine"
_KEEPS_DEFINITION = ("Fn::Sub", "!Sub", "!GetAtt")  # cfn_flip leaves a DefinitionString with one of these keys
MAX_SIMPLE_KEY = 128 - len("!!str")
LITERAL_MIN_LINES = 10
_INDICATORS_FIRST = set("#,[]{}&*!|>'\"%@`")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
# YAML 1.1's implicit types (yaml.org/type): a plain scalar matching one of these is
# read back as that type, so such strings are quoted.
_IMPLICIT = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
            r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
            r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
            r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
            r"~|null|Null|NULL|",
            # a date (month and day of two digits), or a date and a time (of one or two)
            r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
            r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9]"
            r"(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?",
            r"<<",
            r"=",
        )
    )
)


class EmitterError(TemplateError):
    """A value outside the subset this emitter writes."""


class _Lines(list):
    """The output lines, and whether the last scalar written leaves the document open-ended (``|+``)."""

    open_ended = False


class _Literal(str):
    """A string always written as a literal block (cfn_flip's ``LiteralString``)."""


def dump(document: dict) -> str:
    """``document`` (a CloudFormation template as dicts and lists) as YAML text."""
    if not isinstance(document, dict):
        raise EmitterError(f"a template must be a mapping, got {type(document).__name__}")
    lines = _Lines()
    _mapping(_definitions_as_json(document), 0, lines, first_prefix="")
    if lines.open_ended:  # PyYAML ends a document whose last scalar keeps its trailing breaks with '...'
        lines.append("...")
    return "".join(line + "\n" for line in lines)


def _definitions_as_json(node):
    """cfn_flip's one rewrite (``cfn_literal_parser``), on a copy: a state machine's mapping ``DefinitionString``.

    Any mapping whose ``Type`` is ``AWS::StepFunctions::StateMachine`` and whose
    ``Properties.DefinitionString`` is a non-empty mapping without a ``Fn::Sub``,
    ``!Sub`` or ``!GetAtt`` key gets that mapping as indented JSON text (keys sorted,
    as troposphere's JSON has them), written as a literal block. Like cfn_flip, the
    value of a ``Type`` key is not looked into; a state machine whose ``Properties``
    is not a mapping is refused (cfn_flip fails on it).
    """
    if isinstance(node, list):
        return [_definitions_as_json(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: value if key == "Type" else _definitions_as_json(value) for key, value in node.items()}
    if copy.get("Type") != STEP_FUNCTIONS or not copy.get("Properties"):
        return copy
    properties = copy["Properties"]
    if not isinstance(properties, dict):
        raise EmitterError(f"a {STEP_FUNCTIONS} whose Properties is not a mapping is outside this emitter's subset")
    definition = properties.get("DefinitionString")
    if definition and isinstance(definition, dict) and not set(definition) & set(_KEEPS_DEFINITION):
        try:
            text = json.dumps(definition, indent=2, separators=(",", ": "), sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise EmitterError(f"a DefinitionString mapping that is not JSON is outside this subset: {exc}") from None
        copy["Properties"] = {**properties, "DefinitionString": _Literal(text)}
    return copy


# -- scalars ---------------------------------------------------------------------------------------------


def _resolves(text: str) -> bool:
    return _IMPLICIT.fullmatch(text) is not None


def _plain_allowed(text: str) -> bool:
    """YAML's rules for a plain scalar in block context, for one printable ASCII line."""
    if not text or text[0] == " " or text[-1] == " ":
        return False
    if text.startswith(("---", "...")):
        return False
    first = text[0]
    if first in _INDICATORS_FIRST or (first in "?:-" and (len(text) == 1 or text[1] == " ")):
        return False
    rest = text[1:]
    # After the first character: no ": " or final ":" (a key), no " #" (a comment).
    return not (": " in rest or rest.endswith(":") or " #" in text)


def _scalar(value, *, tagged: bool = False) -> str:
    """One scalar, as written after ``key: `` or ``- `` (or after a tag)."""
    if isinstance(value, bool):
        if tagged:
            raise EmitterError(f"a tagged boolean is outside this emitter's subset: {value!r}")
        return "true" if value else "false"
    if isinstance(value, int):
        if tagged:
            raise EmitterError(f"a tagged number is outside this emitter's subset: {value!r}")
        return str(value)
    if not isinstance(value, str):
        raise EmitterError(f"{type(value).__name__} values are outside this emitter's subset: {value!r}")
    if "\n" in value or "\r" in value:
        raise EmitterError(f"a string with line breaks is written only as a literal block: {value[:40]!r}")
    if not _PRINTABLE.fullmatch(value):
        raise EmitterError(f"only printable ASCII strings are written, got: {value[:40]!r}")
    if len(value) >= WIDTH:
        raise EmitterError(f"strings of {WIDTH} characters or more are outside this emitter's subset")
    if tagged or value.startswith("0"):
        return _single_quoted(value)
    if not _resolves(value) and _plain_allowed(value):
        return value
    return _single_quoted(value)


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _literal(value: str, indent: int) -> list[str]:
    """A literal block: its header (``|``, ``|-`` or ``|+``) and its indented lines."""
    if not _PRINTABLE.fullmatch(value.replace("\n", "")):
        raise EmitterError("a literal block must be printable ASCII and line breaks only")
    body = value.split("\n")
    if any(line != line.rstrip(" ") for line in body):  # PyYAML double-quotes such a string
        raise EmitterError("a literal block with trailing spaces on a line is outside this emitter's subset")
    # The indentation indicator when the first line starts with a space or is empty; then chomping.
    header = "|" + ("2" if value.startswith((" ", "\n")) else "")
    if value.endswith("\n\n") or value == "\n":
        header, body = header + "+", body[:-1]
    elif value.endswith("\n"):
        body = body[:-1]
    else:
        header += "-"
    pad = " " * indent
    return [header] + [pad + line if line else "" for line in body]


# -- nodes -----------------------------------------------------------------------------------------------


def _intrinsic(value) -> tuple[str, object] | None:
    """(tag, argument) when ``value`` is an intrinsic function in long form."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, argument),) = value.items()
        if key in ("Ref", "Condition"):
            return f"!{key}", argument
        if key.startswith("Fn::"):
            tag = f"!{key[4:]}"
            if tag == "!GetAtt" and isinstance(argument, list):
                if not all(isinstance(part, str) for part in argument):  # a Ref or list attribute: legal CloudFormation
                    raise EmitterError(
                        f"Fn::GetAtt with a part that is not a string is outside this emitter's subset (cfn_flip "
                        f"cannot write it either), got: {argument!r}"
                    )
                argument = ".".join(argument)
            return tag, argument
    return None


def _key(key) -> str:
    """A mapping key as cfn_flip writes it: a string scalar (``'01_install'`` quoted like a value)."""
    if not isinstance(key, str):
        raise EmitterError(f"mapping keys must be strings, got: {key!r}")
    if not key or len(key) >= MAX_SIMPLE_KEY:  # PyYAML: a simple key is not empty, under 128 characters with '!!str'
        raise EmitterError(
            f"empty mapping keys and keys of {MAX_SIMPLE_KEY} characters or more are written in the explicit "
            f"'? key' form, outside this emitter's subset, got: {key[:40]!r}{'...' if len(key) > 40 else ''}"
        )
    return _scalar(key)


def _check_width(line: str) -> str:
    if len(line) > WIDTH:
        raise EmitterError(f"a line of {len(line)} columns would be folded; the limit is {WIDTH}")
    return line


def _value(value, indent: int, lines: _Lines, head: str) -> None:
    """Write ``head`` (``key:`` or ``-``) followed by ``value``, at ``indent`` columns."""
    pad = " " * indent
    lines.open_ended = False
    intrinsic = _intrinsic(value)
    if intrinsic is not None:
        tag, argument = intrinsic
        if isinstance(argument, (dict, list)) and argument:
            lines.append(_check_width(f"{pad}{head} {tag}"))
            _node(argument, indent + 2, lines)
        elif isinstance(argument, (dict, list)):
            raise EmitterError(f"an empty argument to {tag} is outside this emitter's subset")
        else:
            lines.append(_check_width(f"{pad}{head} {tag} {_scalar(argument, tagged=True)}"))
        return
    if isinstance(value, (dict, list)):
        empty, write = ("{}", _mapping) if isinstance(value, dict) else ("[]", _sequence)
        if not value:
            lines.append(_check_width(f"{pad}{head} {empty}"))
        elif head == "-":  # the collection starts on the item's own line
            write(value, indent + 2, lines, first_prefix=f"{pad}- ")
        else:
            lines.append(_check_width(f"{pad}{head}"))
            write(value, indent + 2, lines, first_prefix="")
        return
    if isinstance(value, _Literal) or (
        isinstance(value, str) and value.count("\n") + value.count("\r") >= LITERAL_MIN_LINES
    ):
        block = _literal(value, indent + 2)
        lines.append(f"{pad}{head} {block[0]}")
        lines.extend(block[1:])
        lines.open_ended = block[0].endswith("+")
        return
    lines.append(_check_width(f"{pad}{head} {_scalar(value)}"))


def _node(value, indent: int, lines: _Lines) -> None:
    """A collection on its own lines, at ``indent``."""
    if isinstance(value, dict):
        _mapping(value, indent, lines, first_prefix="")
    else:
        _sequence(value, indent, lines, first_prefix="")


def _mapping(value: dict, indent: int, lines: _Lines, first_prefix: str) -> None:
    """Keys sorted; the first one after ``first_prefix`` (``- `` inside a sequence)."""
    for index, key in enumerate(sorted(value, key=str)):
        start = len(lines)
        _value(value[key], indent, lines, f"{_key(key)}:")
        if index == 0 and first_prefix:
            lines[start] = first_prefix + lines[start][indent:]


def _sequence(value: list, indent: int, lines: _Lines, first_prefix: str) -> None:
    """Items as ``- item``; the first one after ``first_prefix`` (a sequence in a sequence)."""
    for index, item in enumerate(value):
        start = len(lines)
        _value(item, indent, lines, "-")
        if index == 0 and first_prefix:
            lines[start] = first_prefix + lines[start][indent:]
