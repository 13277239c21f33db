"""The tools layer's one exception base; the CLI frame catches it once at the top.

``instances`` and ``templates`` define their own bases (``instances.errors``,
``templates.errors``); the frame maps those to exit code 2. Here each class
carries the exit code of the one table (``tools.lib.exits``).
"""

from __future__ import annotations

from tools.lib.exits import Exit


class ArdaMailError(Exception):
    """An error the operator can act on; its message is one plain sentence."""

    exit_code = Exit.FAILED


class UsageError(ArdaMailError):
    """The command line names something that does not exist or does not fit together."""

    exit_code = Exit.USAGE

    def __init__(self, message: str, *, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage  # the parser's usage line, shown before the error when the parser said no


class Refused(ArdaMailError):
    """A guard said no before anything was changed."""

    exit_code = Exit.REFUSED


class NotDone(ArdaMailError):
    """Deliberately left undone: a change set left for review, a step not confirmed."""

    exit_code = Exit.NOT_DONE


class Terminated(BaseException):  # noqa: N818 - named like KeyboardInterrupt, its sibling
    """SIGTERM arrived: raised where the program was, like KeyboardInterrupt, so cleanup runs."""
