"""The run's journal: every change a command makes, and how to undo it.

Whoever makes a change records it here at the moment it is made (a database's
rollback log, in miniature):

- ``change(...)`` — an undoable change (a change set created, termination
  protection lifted): the entry holds the undo and the command that undoes it by
  hand. It stays *pending* until the step ``settle``s it (the change is now meant
  to last: the change set was executed), ``keep``s it (deliberately left: a change
  set left for review) or ``undo``es it (a plan deletes its change set).
- ``fact(...)`` / ``attempt(...)`` — a change that cannot be undone (a Postmark
  registration, an executed change set): recorded so the last line can say it.

On any exit — success, error, Ctrl-C, SIGTERM — the frame calls ``unwind()``: every
pending entry is undone, newest first; an undo that fails (or is stopped by a
second signal) leaves the entry *left*, with the command that finishes the job.
The frame's last line is ``summary()``: what the journal holds, nothing else, so it
cannot say "nothing executed" when something was.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

LOG = logging.getLogger(__name__)

PENDING, UNDONE, LEFT, KEPT, SETTLED, DONE, UNSURE = (
    "pending",
    "undone",
    "left",
    "kept",
    "settled",
    "done",
    "unsure",
)


@dataclass
class Entry:
    """One change: what it is, and what the last line says in each state it can end in."""

    what: str  # e.g. "change set arn:...": the subject of every sentence below
    undo: Callable[[], None] | None = None
    undone: str = ""  # said when the undo ran
    manual: str = ""  # said when the undo did not run or failed: how to finish it by hand
    done: str = ""  # said for a fact, or a change that was settled
    unsure: str = ""  # said when the run stopped in the middle of making it
    state: str = PENDING
    kept: str = ""  # said when it was deliberately left
    problem: str = field(default="", repr=False)

    def sentence(self) -> str:
        """What the last line says of this entry, by its state."""
        if self.state == UNDONE:
            return self.undone
        if self.state == LEFT:
            return self.manual + (f" ({self.problem})" if self.problem else "")
        if self.state == KEPT:
            return self.kept
        if self.state == UNSURE:
            return self.unsure
        if self.state in (DONE, SETTLED):
            return self.done
        return self.manual  # still pending: only before unwind()

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready view (the ``--json`` document's ``journal``)."""
        return {"what": self.what, "state": self.state, "said": self.sentence()}


class Journal:
    """The changes of one command run, in the order they were made."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def change(self, what: str, *, undo: Callable[[], None], undone: str, manual: str, done: str = "") -> Entry:
        """Record an undoable change just made; it is undone on exit unless settled, kept or undone first."""
        entry = Entry(what, undo=undo, undone=undone, manual=manual, done=done)
        self.entries.append(entry)
        return entry

    def fact(self, what: str, done: str) -> Entry:
        """Record a change that cannot be undone."""
        entry = Entry(what, done=done, state=DONE)
        self.entries.append(entry)
        return entry

    @contextlib.contextmanager
    def attempt(self, what: str, *, done: str, unsure: str) -> Iterator[Entry]:
        """A change that cannot be undone, made inside the block.

        Done when the block ends; ``unsure`` when it is stopped or fails half-way,
        unless the failure says the service refused the call (an exception whose
        ``changed_nothing`` is true): then the entry is dropped. The block may also
        call ``discard(entry)`` when it finds nothing needed changing.
        """
        entry = Entry(what, done=done, unsure=unsure, state=UNSURE)
        self.entries.append(entry)
        try:
            yield entry
        except BaseException as exc:
            if getattr(exc, "changed_nothing", False):
                self.discard(entry)
            raise
        if entry in self.entries:
            entry.state = DONE

    def discard(self, entry: Entry) -> None:
        """Forget an entry: nothing changed after all."""
        if entry in self.entries:
            self.entries.remove(entry)

    def settle(self, entry: Entry) -> None:
        """The change is meant to last now (a change set executed): never undo it."""
        entry.state = SETTLED

    @contextlib.contextmanager
    def settling(self, entry: Entry, *, unsure: str) -> Iterator[Entry]:
        """The block makes a pending change permanent (executes a change set): settled when it ends.

        While the block runs, and if it is stopped or fails half-way, the entry is
        ``unsure`` and never undone; a failure whose ``changed_nothing`` is true (the
        service refused the call) leaves it pending, to be undone as before.
        """
        entry.state, entry.unsure = UNSURE, unsure
        try:
            yield entry
        except BaseException as exc:
            if getattr(exc, "changed_nothing", False):
                entry.state = PENDING
            raise
        entry.state = SETTLED

    def keep(self, entry: Entry, said: str) -> None:
        """Leave the change on purpose (a change set left for review); ``said`` tells the operator."""
        entry.state, entry.kept = KEPT, said

    def undo(self, entry: Entry) -> None:
        """Undo one change now; raises whatever the undo raises (the entry stays pending then)."""
        entry.undo()
        entry.state = UNDONE

    def unwind(self) -> None:
        """Undo every pending change, newest first. Never raises.

        An undo that fails leaves its entry ``left`` (with the manual command) and the
        next one is tried; an undo stopped by a signal (KeyboardInterrupt: the
        operator insists) leaves it and every entry still pending.
        """
        for entry in reversed(self.entries):
            if entry.state != PENDING:
                continue
            try:
                self.undo(entry)
            except KeyboardInterrupt:
                self.abandon("stopped by a second signal")
                return
            except BaseException as exc:  # noqa: BLE001 - every failure becomes "left", with the manual command
                entry.state = LEFT
                entry.problem = _short(exc)
                LOG.debug("undo of %s failed", entry.what, exc_info=True)

    def abandon(self, reason: str) -> None:
        """Cleanup was stopped: every entry still pending is left as it is, with the command that finishes it."""
        for entry in self.entries:
            if entry.state == PENDING:
                entry.state, entry.problem = LEFT, reason

    def summary(self) -> str:
        """The journal in one sentence, oldest change first; "nothing was changed" when empty."""
        said = [entry.sentence() for entry in self.entries if entry.sentence()]
        return "; ".join(said) if said else "nothing was changed"

    def to_list(self) -> list[dict[str, str]]:
        """Every entry, JSON-ready."""
        return [entry.to_dict() for entry in self.entries]


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
