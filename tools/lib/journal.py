"""The run's journal, written ahead: every change a command is about to make, and how to undo or confirm it.

A change is journaled *before* its request is sent (a database's write-ahead log, in
miniature), so a signal at any point of a change-making call (before it is sent, while
AWS acts, after AWS acted but before the answer is read) leaves an entry that knows
what may have happened:

- ``making(...)`` — an undoable change (a change set created, termination protection
  lifted). While the block runs the entry is *intended*; when it ends the change is
  *pending*: undone on exit unless the step ``settle``s it (meant to last: the change
  set was executed), ``keep``s it (deliberately left for review) or ``undo``es it.
  An undo is safe to run twice and decides by asking the service what exists, never by
  what this run believes: it returns True when it removed something and False when
  there was nothing to remove (never made, or already gone), which the last line says.
- ``attempt(...)`` — a change that cannot be undone (a Postmark registration, a stack
  deletion, a zone purged). Made when the block ends; stopped half-way, its ``check``
  (if any) asks the service what it shows, and the last line says that.
- ``settling(entry, ...)`` — the block makes a pending change permanent (executes a
  change set); stopped half-way, ``check`` says whether it happened: if not, the entry
  is pending again and undone like any other.

A block that fails with an error saying the service refused the call (an exception
whose ``changed_nothing`` is true) changed nothing: its entry is dropped (or stays
pending, for ``settling``).

On any exit — success, error, Ctrl-C, SIGTERM — the frame calls ``unwind()``: every
intended or pending entry is undone or checked, newest first; an undo that fails (or
is stopped by a second signal) leaves the entry *left*, with the command that finishes
the job. The frame's last line is ``summary()``: what the journal holds, nothing else,
so it cannot say "nothing executed" when something was.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

LOG = logging.getLogger(__name__)

# What an entry's change came to (``Entry.state``; the ``--json`` journal shows these words).
INTENDED = "intended"  # journaled; its request may or may not have reached the service
PENDING = "pending"  # made; undone on exit unless settled, kept or undone first
UNDONE = "undone"  # undone by this run
ABSENT = "absent"  # its undo found nothing to remove: never made, or already gone
LEFT = "left"  # its undo failed or was stopped: the last line gives the command that finishes it
KEPT = "kept"  # left on purpose (a change set left for review)
SETTLED = "settled"  # made and meant to last (a change set executed)
MADE = "made"  # a change that cannot be undone, made
OBSERVED = "observed"  # stopped half-way; what the service shows now is said
UNSURE = "unsure"  # stopped half-way, and the service could not be asked


@dataclass
class Entry:
    """One change: what it is, and what the last line says in each state it can end in."""

    what: str  # e.g. "change set arn:...": the subject of every sentence below
    undo: Callable[[], bool | None] | None = None
    undone: str = ""  # said when the undo removed it
    absent: str = ""  # said when the undo found nothing to remove
    manual: str = ""  # said when the undo did not run or failed: how to finish it by hand
    done: str = ""  # said for a change made (or settled)
    unsure: str = ""  # said when the run stopped in the middle of making it and nothing could say more
    check: Callable[[], str | None] | None = None  # what a change stopped half-way came to (None: cannot say)
    happened: Callable[[], bool | None] | None = None  # ``settling``: did the stopped change take effect?
    state: str = INTENDED
    kept: str = ""  # said when it was deliberately left
    observed: str = ""  # what ``check`` found
    problem: str = field(default="", repr=False)

    def sentence(self) -> str:
        """What the last line says of this entry, by its state."""
        said = {
            UNDONE: self.undone,
            ABSENT: self.absent or self.undone,
            LEFT: self.manual + (f" ({self.problem})" if self.problem else ""),
            KEPT: self.kept,
            UNSURE: self.unsure,
            OBSERVED: self.observed,
            SETTLED: self.done,
            MADE: self.done,
        }
        if self.state == INTENDED and self.undo is None:
            return self.unsure  # only before unwind(): an irreversible change in doubt
        return said.get(self.state, self.manual)  # intended or pending: only before unwind()

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready view (the ``--json`` document's ``journal``)."""
        return {"what": self.what, "state": self.state, "said": self.sentence()}


def _refused(exc: BaseException) -> bool:
    """The service answered the call with a refusal: it changed nothing."""
    return bool(getattr(exc, "changed_nothing", False))


class Journal:
    """The changes of one command run, in the order they were begun."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    @contextlib.contextmanager
    def making(
        self,
        what: str,
        *,
        undo: Callable[[], bool | None],
        undone: str,
        manual: str,
        absent: str = "",
        done: str = "",
    ) -> Iterator[Entry]:
        """An undoable change made inside the block, journaled before it starts; pending when the block ends.

        ``undo`` must be safe to run twice and must ask the service what exists (True:
        it removed something; False: nothing was there). Stopped half-way, the entry
        stays intended, and ``unwind`` undoes it all the same.
        """
        entry = Entry(what, undo=undo, undone=undone, absent=absent, manual=manual, done=done)
        with self._journaled(entry, ends=PENDING):
            yield entry

    def change(
        self, what: str, *, undo: Callable[[], bool | None], undone: str, manual: str, absent: str = "", done: str = ""
    ) -> Entry:
        """Record an undoable change already made (a local file written; a request already answered): pending."""
        with self.making(what, undo=undo, undone=undone, manual=manual, absent=absent, done=done) as entry:
            pass
        return entry

    def fact(self, what: str, done: str) -> Entry:
        """Record a change already made that this run cannot undo (one a child process made and reported)."""
        entry = Entry(what, done=done, state=MADE)
        self.entries.append(entry)
        return entry

    @contextlib.contextmanager
    def attempt(
        self, what: str, *, done: str, unsure: str, check: Callable[[], str | None] | None = None
    ) -> Iterator[Entry]:
        """A change that cannot be undone, made inside the block; journaled before it starts.

        Made when the block ends. Stopped or failed half-way, ``check`` (when given) asks
        the service what the change came to and the last line says that; without one, or
        when it cannot answer, ``unsure``. A refusal by the service drops the entry; the
        block may also ``discard(entry)`` when it finds nothing needed changing.
        """
        entry = Entry(what, done=done, unsure=unsure, check=check)
        with self._journaled(entry, ends=MADE):
            yield entry

    @contextlib.contextmanager
    def _journaled(self, entry: Entry, *, ends: str) -> Iterator[None]:
        """``entry`` journaled before the block runs; ``ends`` its state when the block ends (unless discarded
        meanwhile); dropped when the service refused the block's request (nothing changed)."""
        self.entries.append(entry)
        try:
            yield
        except BaseException as exc:
            if _refused(exc):
                self.discard(entry)
            raise
        if entry in self.entries:
            entry.state = ends

    def discard(self, entry: Entry) -> None:
        """Forget an entry: nothing changed after all."""
        if entry in self.entries:
            self.entries.remove(entry)

    def settle(self, entry: Entry) -> None:
        """The change is meant to last now (a change set executed): never undo it."""
        entry.state = SETTLED

    @contextlib.contextmanager
    def settling(self, entry: Entry, *, unsure: str, check: Callable[[], bool | None]) -> Iterator[Entry]:
        """The block makes a pending change permanent (executes a change set): settled when it ends.

        Stopped or failed half-way, ``check`` asks the service whether it happened (True:
        settled; False: still pending, so undone as any other; None or an error: the
        entry is ``unsure`` and never undone). A refusal by the service leaves it pending.
        """
        try:
            yield entry
        except BaseException as exc:
            if not _refused(exc):
                entry.state, entry.unsure, entry.happened = UNSURE, unsure, check
            raise
        entry.state = SETTLED

    def keep(self, entry: Entry, said: str) -> None:
        """Leave the change on purpose (a change set left for review); ``said`` tells the operator."""
        entry.state, entry.kept = KEPT, said

    def undo(self, entry: Entry) -> None:
        """Undo one change now; raises whatever the undo raises (the entry keeps its state then)."""
        removed = entry.undo() if entry.undo is not None else False
        entry.state = UNDONE if removed is not False else ABSENT

    def unwind(self) -> None:
        """Undo every intended or pending change and check every unsure one, newest first. Never raises.

        An undo that fails leaves its entry ``left`` (with the manual command) and the
        next one is tried; an undo stopped by a signal (KeyboardInterrupt: the operator
        insists) leaves it and every entry still open.
        """
        for entry in reversed(self.entries):
            try:
                self._close(entry)
            except KeyboardInterrupt:
                self.abandon("stopped by a second signal")
                return
            except BaseException as exc:  # noqa: BLE001 - every failure becomes "left" (or unsure), never raised
                if entry.undo is not None and entry.state in (INTENDED, PENDING):
                    entry.state, entry.problem = LEFT, _short(exc)
                else:
                    entry.state = UNSURE
                LOG.debug("unwinding %s failed", entry.what, exc_info=True)

    def _close(self, entry: Entry) -> None:
        """One entry at the end of the run: settled or not, undone, or said as the service shows it."""
        if entry.state == UNSURE and entry.happened is not None:
            happened = entry.happened()
            if happened is None:
                return
            entry.state = SETTLED if happened else PENDING  # not executed after all: undone below
        if entry.state in (INTENDED, PENDING) and entry.undo is not None:
            self.undo(entry)
        elif entry.state in (INTENDED, UNSURE) and entry.check is not None:
            found = entry.check()  # a sentence ("": nothing worth saying), or None: the service could not say
            entry.state, entry.observed = (UNSURE, "") if found is None else (OBSERVED, found)
        elif entry.state == INTENDED:
            entry.state = UNSURE

    def abandon(self, reason: str) -> None:
        """Cleanup was stopped: every entry still open is left as it is, with the command that finishes it."""
        for entry in self.entries:
            if entry.state in (INTENDED, PENDING):
                entry.state, entry.problem = (LEFT, reason) if entry.undo is not None else (UNSURE, "")

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
