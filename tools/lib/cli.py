"""What every CLI does with an ArdaMailError: one redacted line, then its exit code."""

from __future__ import annotations

import logging
import sys

from tools.lib.errors import ArdaMailError
from tools.lib.logger import redact


def report_error(prog: str, exc: ArdaMailError, stack_name: str | None = None) -> int:
    """Print ``<prog>: error: <stack>: <message>`` on stderr (traceback only with --debug)."""
    logging.getLogger(prog).debug("failed", exc_info=True)
    message = redact(str(exc))
    if stack_name and stack_name not in message:
        message = f"{stack_name}: {message}"
    print(f"{prog}: error: {message}", file=sys.stderr)
    return exc.exit_code
