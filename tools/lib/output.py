"""The one output sink: every channel a command writes to passes the redaction.

- ``RedactingStream`` wraps stdout and stderr for the length of a command run (the
  frame installs it), so a ``print`` anywhere, a log line or a traceback cannot
  carry a registered secret to the terminal.
- ``Sink`` is the one way a command prints, with one verb per kind of line:

  ============  ==========================================  =========================
  verb          what                                        where
  ============  ==========================================  =========================
  ``result``    what the command found or did: the change   stdout (under ``--json``:
  ``table``     set, the review, drift, the outcome, the    stderr; the document is
                exports, the verify rows                    stdout's)
  ``progress``  what it is doing now: steps, stack events,  stderr
                heartbeats, retries, cleanup
  ``warning``   what the operator should know and may act   stderr
                on, but that does not stop the run
  ============  ==========================================  =========================

  So ``> file`` keeps the results and the terminal keeps the story as it happens.
  The JSON document is written once, by the frame, as the only thing on stdout.
  Logging (``LOG``) is for ``--debug`` diagnostics only; ``print`` is not used
  (``tests/unit/test_architecture.py``). Code far from a run's sink (the Postmark
  client's retries, the lint cache) writes to ``console()``, the sink of the run in
  progress (the frame installs it).
- ``write_file`` / ``append_file`` are the one way a command writes a file: the
  text is redacted, a new file appears whole or not at all, and a symlink at the
  path is replaced, never followed.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from tools.lib.logger import redact

# Control characters a reply could smuggle onto a terminal (escape sequences, carriage returns that
# overwrite a line): shown as \x.. instead. Tab and newline pass.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character but tab and newline shown as ``\\xNN``."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


class RedactingStream(io.TextIOBase):
    """A text stream that redacts registered secrets from each line before it reaches ``target``.

    Lines are held until their end (or a flush), so a secret written in pieces by
    several ``write`` calls is still found whole. Control characters are made
    visible (``printable``): nothing written can drive the terminal.
    """

    def __init__(self, target, redactor: Callable[[str], str] = redact) -> None:
        super().__init__()
        self.target = target
        self._redact = lambda text: printable(redactor(text))
        self._pending = ""

    def write(self, text: str) -> int:
        """Pass every complete line on, redacted; keep the unfinished one."""
        self._pending += text
        if "\n" in self._pending:
            complete, _, self._pending = self._pending.rpartition("\n")
            self.target.write(self._redact(complete + "\n"))
        return len(text)

    def flush(self) -> None:
        """Pass the unfinished line on too (a prompt), redacted."""
        if self._pending:
            self.target.write(self._redact(self._pending))
            self._pending = ""
        self.target.flush()

    def write_unredacted(self, text: str) -> None:
        """The one unredacted write: GitHub Actions' ``::add-mask::`` line, after what came before it."""
        self.flush()
        self.target.write(text)

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", "utf-8")


def table_lines(rows: Sequence[Sequence[object]], indent: str = "  ") -> list[str]:
    """Rows (the first one the header) as aligned columns; the last column is never padded."""
    if not rows:
        return []
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(len(cells[0]) - 1)]
    lines = []
    for row in cells:
        padded = [f"{cell:<{width}}" for cell, width in zip(row, widths, strict=False)] + row[len(widths) :]
        lines.append((indent + "  ".join(padded)).rstrip())
    return lines


class Sink:
    """Where a command's lines go (results, progress, warnings: see the module), and the one JSON document."""

    def __init__(self, *, json_mode: bool, human=None, document_stream=None, progress_stream=None) -> None:
        self.json_mode = json_mode
        self._human = human
        self._progress = progress_stream if progress_stream is not None else human
        self._document_stream = document_stream
        self.document: dict = {}
        self.emitted = False
        self._lock = threading.Lock()

    @property
    def human(self):
        """The stream for results: stdout, or stderr under ``--json`` (stdout is the document's)."""
        return self._human

    def _write(self, stream, text: str) -> None:
        line = redact(text) + "\n"
        with self._lock:  # whole lines, also from a deploy's guards running side by side
            stream.write(line)
            stream.flush()

    def result(self, text: str = "") -> None:
        """One line of what the command found or did (redacted)."""
        self._write(self._human, text)

    def table(self, title: str | None, rows: Sequence[Sequence[object]], indent: str = "  ") -> None:
        """A result: a title line (if any), then ``rows`` (the first one the header) aligned."""
        if title is not None:
            self.result(title)
        for line in table_lines(rows, indent):
            self.result(line)

    def progress(self, text: str) -> None:
        """One line of what the command is doing now (stderr, redacted)."""
        self._write(self._progress, text)

    def warning(self, text: str) -> None:
        """Something the operator should know that does not stop the run (stderr, redacted)."""
        self._write(self._progress, text)

    def emit_document(self) -> None:
        """The JSON document, redacted, as the only thing on stdout: once, by the frame at the end
        (or earlier by a command whose result is needed while it runs: ``rehearse.py up``)."""
        if self.emitted:
            return
        self.emitted = True
        text = redact(json.dumps(self.document, indent=2, sort_keys=False, default=str))
        self._document_stream.write(text + "\n")
        self._document_stream.flush()


_CONSOLE: list[Sink] = []


def console() -> Sink:
    """The sink of the run in progress (the frame's), or, outside any run, one on stdout and stderr."""
    return _CONSOLE[-1] if _CONSOLE else Sink(json_mode=False, human=sys.stdout, progress_stream=sys.stderr)


def install(sink: Sink) -> None:
    """``sink`` is ``console()`` until ``uninstall(sink)`` (the frame, for the length of a run)."""
    _CONSOLE.append(sink)


def uninstall(sink: Sink) -> None:
    if sink in _CONSOLE:
        _CONSOLE.remove(sink)


def write_file(path: Path, text: str, *, mode: int = 0o666, secret_free: bool = True) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new one, never half.

    The temporary file is this process's own (``O_EXCL``: never an existing file or
    a symlink), created with ``mode`` under the umask (0644 for 0666 under 022), and
    ``os.replace`` puts it where ``path`` was: a symlink at ``path`` is replaced, not
    followed. ``secret_free`` redacts registered secrets first.
    """
    if secret_free:
        text = redact(text)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        handle = os.open(temp, flags, mode)
    except FileExistsError:  # left by a crashed run that had this process ID
        temp.unlink()
        handle = os.open(temp, flags, mode)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def file_destination_problem(path: Path) -> str | None:
    """Why ``write_file(path, ...)`` would fail, found before anything is changed; None when it looks writable.

    A full disk cannot be foreseen; a folder, a missing or read-only folder can.
    """
    if path.is_dir():
        return "it is a folder"
    if path.exists() and not path.is_file() and not path.is_symlink():
        return "it is not a regular file"
    parent = path.parent
    if not parent.is_dir():
        return f"its folder {parent} does not exist" if not parent.exists() else f"{parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"its folder {parent} is not writable"
    return None


# Kernel file systems: a path there is a process's or a device's, never a place to keep a file.
KERNEL_FILESYSTEMS = ("/proc", "/sys", "/dev")


def kernel_filesystem_problem(path: Path) -> str | None:
    """Why ``path`` is no place for a command's output (it is under /proc, /sys or /dev, symlinks followed); None
    when it is not."""
    resolved = Path(os.path.realpath(path))
    for root in map(Path, KERNEL_FILESYSTEMS):
        if resolved == root or root in resolved.parents:
            return f"it is under {root}, a kernel file system, not storage"
    return None


def folder_destination_problem(path: Path) -> str | None:
    """Why a folder at ``path`` (created with its parents) could not be written into; None when it could."""
    problem = kernel_filesystem_problem(path)
    if problem:
        return problem
    if path.exists() and not path.is_dir():
        return "it is not a folder"
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def markdown_text(value: object) -> str:
    """``value`` safe inside Markdown (a table cell or a list item): nothing in it is markup or HTML.

    Hostile DNS answers and Postmark replies end up in job summaries, which GitHub
    renders: no tags, no links, no breaking out of the table.
    """
    return " ".join(str(value).split()).translate(_MARKDOWN_ESCAPES)  # one line, every markup character inert


_MARKDOWN_ESCAPES = str.maketrans(
    # No tag (< > &), no link or image (an escaped '(' cannot follow ']'), no code span,
    # emphasis or cell break; '[' and '!' alone are plain text.
    {**{char: "\\" + char for char in "\\`*_()|~"}, "<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def append_file(path: Path, text: str) -> None:
    """Append redacted ``text`` to ``path`` (e.g. GitHub's step summary), never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    handle = os.open(path, flags, 0o644)
    with os.fdopen(handle, "a", encoding="utf-8", newline="\n") as out:
        out.write(redact(text))
