"""Where the DKIM key is split into TXT character-strings, and that it survives."""

from __future__ import annotations

import base64
import re

import pytest

from templates.dkim import (
    MAX_CHARACTER_STRING,
    TXT_RECORD_PATTERN,
    SlotError,
    assign_slots,
    join_txt_strings,
    txt_record_value,
)


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


# -- slots: a key never changes slot while it stays published ----------------------------

K1, K2, K3, K4 = (("s1", '"v1"'), ("s2", '"v2"'), ("s3", '"v3"'), ("s4", '"v4"'))


@pytest.mark.parametrize(
    ("wanted", "deployed", "expected"),
    [
        ([], ["", "", ""], [None, None, None]),
        ([K1], ["", "", ""], [K1, None, None]),  # a new domain: the pending key
        ([K1], ["s1", "", ""], [K1, None, None]),  # verified: same host, same slot
        ([K1], ["", "", "S1"], [None, None, K1]),  # compared as DNS does, case-insensitively
        ([K1, K2], ["s1", "", ""], [K1, K2, None]),  # rotation: the new key takes an empty slot
        ([K2, K1], ["s1", "s2", ""], [K1, K2, None]),  # rotation verified: roles swap, slots stay
        ([K2], ["s1", "s2", ""], [None, K2, None]),  # the revoked key is safe: its slot empties
        ([K3, K4, K2], ["s3", "s2", ""], [K3, K2, K4]),  # three keys fill the last slot
        ([K4, K3], ["s3", "s2", "s4"], [K3, None, K4]),
        ([K4], ["s2", "s3", ""], [None, None, K4]),  # empty slots first, freed ones only if needed
        ([K3, K4], ["s1", "s2", "s9"], [K3, K4, None]),  # all slots freed in one deploy
    ],
)
def test_assign_slots_keeps_each_key_where_the_stack_has_it(wanted, deployed, expected):
    assert assign_slots(wanted, deployed) == expected


@pytest.mark.parametrize(
    ("wanted", "deployed", "message"),
    [
        ([K1, K2, K3, K4], ["", "", ""], "Postmark needs 4 DKIM keys published, the template has 3 slots"),
        ([K1, ("S1", '"x"')], ["", "", ""], "Postmark names one DKIM selector twice: s1, s1"),
        ([K1], ["", ""], "the deployed stack must report 3 DKIM slots, got 2"),
    ],
)
def test_assign_slots_refuses_what_cannot_be_published(wanted, deployed, message):
    with pytest.raises(SlotError, match=re.escape(message)):
        assign_slots(wanted, deployed)
