"""Secrets and logging shared by every CLI: redaction, GitHub Actions masks, --debug.

Every secret the program learns is registered here (``register_secret``) before
anything else is done with it. From then on:

- a filter on the frame's log handler replaces it with ``***`` in each record's
  message, its arguments and its formatted traceback, and the frame's output sink
  (``tools.lib.output``) does the same for everything written to stdout, stderr,
  the ``--json`` document and files;
- on GitHub Actions (``GITHUB_ACTIONS=true``) ``::add-mask::<secret>`` is printed
  once, so the runner hides it in the job log too. Nowhere else: a mask line in a
  terminal would print the very secret it means to hide.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from urllib.parse import quote, quote_plus

REDACTED = "***"


class Secret:
    """A secret value that prints as ``***``; ``reveal()`` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself, for the one place that must send it."""
        return self._value

    def __str__(self) -> str:
        return REDACTED

    __repr__ = __str__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):
        raise TypeError("a Secret cannot be pickled")


class RedactionFilter(logging.Filter):
    """Replaces every registered secret in a record before any handler formats it.

    Matching ignores case: a secret that comes back lowercased (a host name in a
    redirect, a DNS answer) is the same secret.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()  # a deploy's guards run side by side: one resolves the token

    def add(self, value: str) -> None:
        """Hide ``value`` from now on, in every encoded form this program may print it.

        Besides the value itself: its ``repr`` and JSON string forms (``--debug`` logs
        request parameters as Python reprs) and its URL-encoded forms. Values shorter
        than 4 characters are refused: redacting "a" would shred every message.
        """
        if len(value) < 4:
            raise ValueError("refusing to register a secret shorter than 4 characters")
        forms = {form for form in encoded_forms(value) if len(form) >= 4}
        with self._lock:
            self._secrets.update(forms)
            self._pattern = None

    def reset(self) -> None:
        """Forget every secret: each command run starts with its own (the frame calls this)."""
        with self._lock:
            self._secrets.clear()
            self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._secrets:
                forms = sorted(self._secrets, key=len, reverse=True)  # longest first: no half-redacted form
                self._pattern = re.compile("|".join(re.escape(form) for form in forms), re.IGNORECASE)
            return self._pattern

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced, whatever its case."""
        pattern = self._compiled()
        return pattern.sub(REDACTED, text) if pattern is not None else text

    def holds_secret(self, text: str) -> bool:
        """Whether ``text`` holds a registered secret (in any encoded form or case)."""
        pattern = self._compiled()
        return bool(pattern is not None and pattern.search(text))

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def encoded_forms(value: str) -> set[str]:
    """``value`` and the ways it appears once encoded: repr, JSON, URL and workflow-command escapes."""
    return {
        value,
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
        escape_workflow_value(value),
    }


MASK_COMMAND = "::add-mask::"


def escape_workflow_value(value: str) -> str:
    """A GitHub Actions workflow-command value: ``%``, CR and LF escaped as GitHub documents."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def unescape_workflow_value(text: str) -> str:
    """The value ``escape_workflow_value`` escaped."""
    return re.sub(r"%(25|0D|0A)", lambda m: {"25": "%", "0D": "\r", "0A": "\n"}[m.group(1)], text)


REDACTOR = RedactionFilter()
_masked: set[str] = set()
_announcing = True  # mask lines are written (false once the frame has ended its run)


def on_github_actions() -> bool:
    """True when running as a GitHub Actions step."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def register_secret(value: str, *, mask: bool = True) -> None:
    """Redact ``value`` everywhere from now on; mask it in the Actions log, once (unless ``mask`` is false:
    a value the runner already knows, such as the job's AWS credentials).

    The mask line goes to stdout, or to stderr when stdout carries a ``--json``
    document (the runner reads workflow commands on both): the frame's sys.stdout
    is then the stderr sink. It is the one line written past the redaction.
    """
    REDACTOR.add(value)
    if mask and _announcing and on_github_actions() and value not in _masked:
        _masked.add(value)
        # Escaped, so that a value with a line break is masked whole, not just its first line.
        line = f"{MASK_COMMAND}{escape_workflow_value(value)}\n"
        stream = sys.stdout
        getattr(stream, "write_unredacted", stream.write)(line)
        stream.flush()


def forget_secrets() -> None:
    """A new command run: no secret of an earlier run (in the same process) is known or masked."""
    global _announcing
    REDACTOR.reset()
    _masked.clear()
    _announcing = True


def stop_announcing() -> None:
    """The run has ended (the frame says so): a secret learnt from now on (a read the run left behind, a signal
    did not wait for) is redacted, but no mask line is written. It would land after the run's last line, on
    stdout, past a ``--json`` document; and nothing of the run can print it any more."""
    global _announcing
    _announcing = False


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    return REDACTOR.redact(text)


def holds_secret(text: str) -> bool:
    """Whether ``text`` holds a secret this run has learnt: it must not be published, deployed or written."""
    return REDACTOR.holds_secret(text)


class Handler(logging.StreamHandler):
    """The frame's one log handler: stderr, redacted, tracebacks only with --debug.

    Response bodies botocore logs at DEBUG are dropped before redaction could see
    them: they hold what is not yet registered (a deployed secret's value is logged
    before the code that reads it can register it; AssumeRole's credentials).
    """

    def __init__(self, stream, debug: bool) -> None:
        super().__init__(stream)
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s" if debug else "%(message)s"))
        self.addFilter(_no_response_bodies)
        self.addFilter(REDACTOR)


def _no_response_bodies(record: logging.LogRecord) -> bool:
    if record.name.startswith("botocore") and str(record.msg).startswith("Response body"):
        record.msg, record.args = "Response body: (not logged: it may hold secrets)", None
    return True


NOISY_LOGGERS = ("urllib3", "botocore", "boto3", "s3transfer", "cfnlint")
