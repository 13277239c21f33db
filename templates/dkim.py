"""DKIM values as DNS TXT records: where the 255-character split happens.

A TXT record holds one or more character-strings of at most 255 bytes each
(RFC 1035 §3.3.14); a 2048-bit DKIM key is longer than that. CloudFormation has no
intrinsic function that can cut a string, so the split happens here, in the
deployer, before the value becomes a stack parameter. The template's parameter
pattern (``TXT_RECORD_PATTERN``) then refuses any value that is not already a valid
sequence of quoted strings, so an unsplit key can never reach Route 53.
"""

from __future__ import annotations

import re

MAX_CHARACTER_STRING = 255
# Route 53 limit for one TXT record value, quotes and separators included.
MAX_TXT_RECORD_LENGTH = 4000
TXT_RECORD_PATTERN = r'^$|^"[^"\\]{1,255}"( "[^"\\]{1,255}")*$'
SELECTOR_PATTERN = r"^$|^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
_PRINTABLE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e ]+")  # printable ASCII but " and \


def txt_record_value(text: str) -> str:
    """Quote ``text`` as TXT character-strings of at most 255 characters each.

    ``"k=rsa;p=AAA..." "...BBB"`` — resolvers join the strings back without a
    separator, so the key is intact at the receiving end.
    """
    if not text:
        raise ValueError("a DKIM value must not be empty")
    if not _PRINTABLE.fullmatch(text):
        raise ValueError(
            "a DKIM value must be printable ASCII without quotes or backslashes, "
            f"got {len(text)} characters that are not"
        )
    chunks = [text[i : i + MAX_CHARACTER_STRING] for i in range(0, len(text), MAX_CHARACTER_STRING)]
    value = " ".join(f'"{chunk}"' for chunk in chunks)
    if len(value) > MAX_TXT_RECORD_LENGTH:
        raise ValueError(
            f"a DKIM value must fit one TXT record of {MAX_TXT_RECORD_LENGTH} characters, got {len(value)}"
        )
    return value


def join_txt_strings(record_value: str) -> str:
    """The text of a record value made by ``txt_record_value`` (strings joined)."""
    return "".join(re.findall(r'"([^"]*)"', record_value))
