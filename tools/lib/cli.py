"""What every CLI does with an ArdaMailError: one redacted line, then its exit code."""

from __future__ import annotations

import logging
import sys

from tools.lib.errors import ArdaMailError
from tools.lib.logger import redact


def report_error(prog: str, exc: ArdaMailError, stack_name: str | None = None) -> int:
    """Print ``<prog>: error: <stack>: <message>`` on stderr, one line (traceback only with --debug)."""
    logging.getLogger(prog).debug("failed", exc_info=True)
    _print_line(prog, redact(str(exc)), stack_name)
    return exc.exit_code


def report_unexpected(prog: str, exc: Exception, stack_name: str | None = None) -> int:
    """The last resort for an exception nobody translated: still one redacted line, exit 1."""
    logging.getLogger(prog).debug("failed", exc_info=True)
    text = redact(f"{type(exc).__name__}: {exc}")
    _print_line(prog, f"unexpected {text[:300]}; rerun with --debug for the traceback, and report it", stack_name)
    return 1


def _print_line(prog: str, message: str, stack_name: str | None) -> None:
    message = " ".join(message.split())  # whatever it holds, one line
    if stack_name and stack_name not in message:
        message = f"{stack_name}: {message}"
    print(f"{prog}: error: {message}", file=sys.stderr)


def ask(question: str) -> str:
    """Ask on the terminal (stderr), the answer stripped (stdin)."""
    sys.stderr.write(f"{question} ")
    sys.stderr.flush()
    return sys.stdin.readline().strip()


def ask_yes(question: str) -> bool:
    """A ``[y/N]`` question: True only for y or yes."""
    return ask(f"{question} [y/N]").lower() in ("y", "yes")
