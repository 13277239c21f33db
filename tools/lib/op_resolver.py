"""Resolve a 1Password secret reference with ``op read``.

The value is read from op's stdout (never from a command line or a file),
registered with the redaction filter before anything else happens, and handed
back wrapped in a ``Secret`` so that printing it by mistake prints ``***``.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess

from instances import rules
from tools.lib.errors import ArdaMailError
from tools.lib.logger import REDACTOR, Secret, redact, register_secret

LOG = logging.getLogger(__name__)
OP_TIMEOUT_SECONDS = 60
_STDERR_LINES = 3
# A token is printable ASCII without spaces: anything else would break the HTTP header
# and could split a log line or a GitHub Actions mask.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+")
# Long unbroken runs in op's stderr may be a secret a broken op echoed (of any printable characters):
# never show them, but for the op:// reference itself, which says what failed.
_SECRET_LIKE = re.compile(r"(?<!\S)(?!op://)[\x21-\x7e]{16,}")


class OnePasswordError(ArdaMailError):
    """``op`` is missing, not signed in, or returned nothing usable."""


def read_command(reference: str, op: str = "op") -> list[str]:
    """The argv that reads ``reference``: no shell, and never a secret on it."""
    return [op, "read", "--no-newline", reference]


def resolve(reference: str, *, op: str = "op", timeout: float = OP_TIMEOUT_SECONDS) -> Secret:
    """The secret at ``reference``, via ``op read``; OnePasswordError on any failure."""
    problem = rules.op_reference(reference)
    if problem:
        raise OnePasswordError(f"the 1Password reference must {problem}, got: {reference!r}")
    executable = shutil.which(op)
    if executable is None:
        raise OnePasswordError(
            f"the 1Password CLI '{op}' is not on PATH: install it "
            "(https://developer.1password.com/docs/cli/get-started/) and sign in, "
            "or set OP_SERVICE_ACCOUNT_TOKEN on CI"
        )
    LOG.debug("op read %s", reference)
    try:
        result = subprocess.run(
            read_command(reference, executable),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        # The exception carries op's partial stdout; drop it with the chain.
        raise OnePasswordError(
            f"op read {reference} did not answer within {timeout:g}s: "
            "is it waiting for a sign-in prompt? run 'op signin' first"
        ) from None
    except OSError as exc:
        raise OnePasswordError(f"could not run '{executable}': {exc.strerror}") from None
    value = result.stdout.decode(errors="replace").strip()
    if result.returncode != 0:
        # Only stderr is shown, and not even that part of it that holds what op printed
        # on stdout or anything that looks like a secret.
        _hide(value)
        lines = result.stderr.decode(errors="replace").splitlines()[:_STDERR_LINES]
        detail = " | ".join(_SECRET_LIKE.sub("***", line.strip()) for line in lines if line.strip())
        raise OnePasswordError(
            f"op read {reference} failed (exit {result.returncode}): {redact(detail) or 'no message'}; "
            "check that you are signed in ('op whoami') and can see the item"
        )
    if not value:
        raise OnePasswordError(f"op read {reference} returned an empty value: check the item's field")
    if len(value) < 4:
        raise OnePasswordError(f"op read {reference} returned a value too short to be a Postmark token")
    if not _TOKEN_SHAPE.fullmatch(value):
        _hide(value)
        raise OnePasswordError(
            f"op read {reference} returned a value with spaces, line breaks, control or non-ASCII "
            "characters, which a Postmark token never has; check the item's field (the value is not shown)"
        )
    register_secret(value)
    return Secret(value)


def _hide(value: str) -> None:
    """Redact a value op printed that we will not use, and each of its long pieces."""
    for piece in {value, *value.split()}:
        if len(piece) >= 4:
            REDACTOR.add(piece)
