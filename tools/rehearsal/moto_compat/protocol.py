"""The AWS wire protocols as the patches read them: plain functions over a request's data (no moto)."""

from __future__ import annotations

import io
from urllib.parse import parse_qs


def members(query: dict, prefix: str, field: str = "") -> list[str]:
    """A query-protocol list (``Prefix.member.N[.Field]``) in N's order; ``field`` names a structure's member."""
    found = []
    for key, value in query.items():
        if not key.startswith(f"{prefix}.member."):
            continue
        number, _, rest = key[len(prefix) + len(".member.") :].partition(".")
        if number.isdigit() and rest == field:
            found.append((int(number), value[0] if isinstance(value, list) else value))
    return [value for _, value in sorted(found)]


def action_of(environ: dict) -> str:
    """The API action of a WSGI request: X-Amz-Target (JSON protocols) or Action= (query protocol).

    Reading the body puts it back (``wsgi.input`` becomes a fresh stream), so the server still reads it.
    """
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    form = parse_qs(body.decode("utf-8", "replace")) if body else parse_qs(environ.get("QUERY_STRING", ""))
    return (form.get("Action") or [""])[0]
