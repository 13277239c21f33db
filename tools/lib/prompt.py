"""Questions to the operator on a terminal: asked on stderr, answered on stdin."""

from __future__ import annotations

import sys


def ask(question: str) -> str:
    """Ask on the terminal (stderr); the answer, stripped (stdin)."""
    sys.stderr.write(f"{question} ")
    sys.stderr.flush()
    return sys.stdin.readline().strip()


def ask_yes(question: str) -> bool:
    """A ``[y/N]`` question: True only for y or yes."""
    return ask(f"{question} [y/N]").lower() in ("y", "yes")


def can_ask() -> bool:
    """Whether someone can answer here (stdin is a terminal)."""
    return sys.stdin.isatty()
