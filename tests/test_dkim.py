"""Where the DKIM key is split into TXT character-strings, and that it survives."""

from __future__ import annotations

import base64
import re

import pytest

from templates.dkim import MAX_CHARACTER_STRING, TXT_RECORD_PATTERN, join_txt_strings, txt_record_value


def _dkim_2048() -> str:
    # A 2048-bit RSA public key in SubjectPublicKeyInfo form is 294 bytes: 392 base64 characters.
    key = base64.b64encode(bytes(range(256)) + bytes(range(38))).decode()
    assert len(key) == 392
    return f"k=rsa;p={key}"


@pytest.mark.vcheck("V-PART-006")
def test_a_2048_bit_key_becomes_two_quoted_strings():
    text = _dkim_2048()
    value = txt_record_value(text)
    strings = re.findall(r'"([^"]*)"', value)
    assert [len(s) for s in strings] == [255, len(text) - 255]
    assert value == f'"{text[:255]}" "{text[255:]}"'
    assert join_txt_strings(value) == text
    assert re.fullmatch(TXT_RECORD_PATTERN, value)


@pytest.mark.parametrize("length", [1, 254, 255, 256, 510, 511, 1000])
@pytest.mark.vcheck("V-PART-006")
def test_every_string_fits_and_the_text_survives(length):
    text = ("k=rsa;p=" + "A" * length)[:length]
    value = txt_record_value(text)
    assert all(len(s) <= MAX_CHARACTER_STRING for s in re.findall(r'"([^"]*)"', value))
    assert join_txt_strings(value) == text
    assert re.fullmatch(TXT_RECORD_PATTERN, value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ('k=rsa;p="x"', "without quotes or backslashes"),
        ("k=rsa;p=\\x", "without quotes or backslashes"),
        ("k=rsa;\np=x", "without quotes or backslashes"),
        ("A" * 3960, "must fit one TXT record of 4000 characters"),
    ],
)
def test_bad_dkim_values_are_refused(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        txt_record_value(text)


@pytest.mark.parametrize(
    "value",
    [
        "k=rsa;p=" + "A" * 300,  # unsplit: the template must refuse it
        '"' + "A" * 256 + '"',  # a string over 255
        '"abc""def"',  # no separator
        '"abc" ',
    ],
)
@pytest.mark.vcheck("V-PART-006")
def test_the_template_pattern_refuses_values_not_split_here(value):
    assert not re.fullmatch(TXT_RECORD_PATTERN, value)
