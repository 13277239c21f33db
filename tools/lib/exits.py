"""The one exit-code table every command uses.

A command documents the codes it can return (``epilog``); the numbers are defined
here once. 130 and 143 are the shell's convention for a process stopped by SIGINT
(Ctrl-C) and SIGTERM: the frame returns them after it has undone what the run
left half-done.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum


class Exit(IntEnum):
    """What a command's exit code means, whichever command it is."""

    OK = 0
    FAILED = 1  # a step failed (AWS, 1Password, Postmark, DNS, a check)
    USAGE = 2  # bad arguments, unknown target, bad instance config
    REFUSED = 3  # a guard said no before anything changed
    NOT_DONE = 4  # deliberately left undone: not executed, not confirmed
    INTERRUPTED = 130  # SIGINT (Ctrl-C)
    TERMINATED = 143  # SIGTERM


SIGNAL_MEANINGS = {
    Exit.INTERRUPTED: "interrupted (Ctrl-C); what the run had started is undone first, the last line says what is left",
    Exit.TERMINATED: "terminated (SIGTERM); as for 130",
}


def epilog(meanings: Mapping[Exit, str], environment: Mapping[str, str] | None = None) -> str:
    """The ``--help`` text after the options: each exit code's meaning for this command, and its environment."""
    rows = {**meanings, **SIGNAL_MEANINGS}
    lines = ["exit codes:"] + [f"  {int(code):<4} {text}" for code, text in sorted(rows.items())]
    if environment:
        lines += ["", "environment:"] + [f"  {name}  {text}" for name, text in environment.items()]
    return "\n".join(lines)
