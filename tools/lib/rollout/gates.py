"""Operator gates: recorded in ``docs/rollout-gates.json``, counted once committed.

The file is reviewed and committed like code, so CI and every operator see the
same gates; the rollout reads it from ``HEAD`` (git's object store), never from the
working copy: a gate recorded but not committed does not open a partition. The
working copy is read for two things only, and only when it is a regular file of at
most ``MAX_GATES_BYTES``: ``--record-gate`` appends to it, and a refusal says that
a gate is recorded there but not committed. Only a gate an instance file requires
(``[rollout] requires_gates``) can be recorded.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from instances import rules
from instances.registry import PartitionConfig
from tools.lib.errors import ArdaMailError, Refused, UsageError
from tools.lib.git_guard import GitUnanswered, blob_size, blobs, head_tree
from tools.lib.output import write_file

GATES_PATH = "docs/rollout-gates.json"  # relative to the checkout; committed, reviewed
GATE_FIELDS = ("gate", "by", "at")
# A gates file holds a handful of entries (a few hundred bytes each); anything bigger is not one.
MAX_GATES_BYTES = 1_000_000
FIX = "fix it in a reviewed commit"


class Gates:
    """The gates of one checkout, and the ones its instance files require."""

    def __init__(self, top: Path, required: Iterable[str]) -> None:
        self.top = top
        self.path = top / GATES_PATH
        self.required = sorted(set(required))

    def parse(self, text: str | None, where: str) -> list[dict]:
        """The gates in ``text``; a file that is not a list of complete entries is refused, naming the entry."""
        if text is None:
            return []
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise Refused(f"{where} is not JSON ({exc}); {FIX}") from None
        if not isinstance(data, list):
            raise Refused(f"{where} must hold a list of gates, got: {type(data).__name__}; {FIX}")
        for index, entry in enumerate(data, 1):
            missing = [key for key in GATE_FIELDS if not (isinstance(entry, dict) and isinstance(entry.get(key), str))]
            if missing or not entry["gate"] or not entry["by"]:
                raise Refused(
                    f"{where}: gate {index} lacks {', '.join(missing) or 'a name or who passed it'} "
                    f"(each gate needs {', '.join(GATE_FIELDS)} as text); record it again with: "
                    "python tools/rollout.py --record-gate NAME --by WHO --note TEXT, and remove the broken entry"
                )
        return data

    def committed(self) -> list[dict]:
        """The gates as ``HEAD`` holds them: what CI and every other operator see."""
        where = f"{GATES_PATH} at HEAD"
        try:
            found = head_tree(self.top, [GATES_PATH]).get(GATES_PATH)
            if found is None:
                return []
            if found.mode not in ("100644", "100755"):
                raise Refused(f"{where} is not a file (git mode {found.mode}); {FIX}")
            size = blob_size(self.top, found.sha)
            if size > MAX_GATES_BYTES:
                raise Refused(f"{where} is {size} bytes, more than a gates file holds ({MAX_GATES_BYTES}); {FIX}")
            raw = blobs(self.top, [found.sha])[found.sha]
        except GitUnanswered as exc:
            raise Refused(
                f"the committed gates ({GATES_PATH}) cannot be read: git says: {exc}; run the rollout from a git "
                "checkout of the reviewed commit"
            ) from None
        return self.parse(raw.decode("utf-8", "replace"), where)

    def working(self) -> list[dict]:
        """The gates in the working copy (what ``--record-gate`` appends to); refused unless a small regular file."""
        try:
            # O_NONBLOCK: a FIFO put there opens at once (and is refused below) instead of blocking the run.
            handle = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ArdaMailError(f"{self.path} cannot be read ({exc.strerror or exc}); fix its permissions") from None
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                raise Refused(
                    f"{self.path} is not a regular file; put the committed one back: git checkout {GATES_PATH}"
                )
            raw = b""
            while len(raw) <= MAX_GATES_BYTES:
                chunk = os.read(handle, MAX_GATES_BYTES + 1 - len(raw))
                if not chunk:
                    break
                raw += chunk
        finally:
            os.close(handle)
        if len(raw) > MAX_GATES_BYTES:
            raise Refused(
                f"{self.path} is more than {MAX_GATES_BYTES} bytes, more than a gates file holds; put the committed "
                f"one back: git checkout {GATES_PATH}"
            )
        return self.parse(raw.decode("utf-8", "replace"), str(self.path))

    def uncommitted(self, name: str, committed: list[dict]) -> bool:
        """Whether ``name`` is recorded in the working copy but not among the ``committed`` gates.

        False when the working copy cannot say (not a small regular file): it only ever adds words to a refusal.
        """
        try:
            working = self.working()
        except ArdaMailError:
            return False
        return any(g["gate"] == name and g not in committed for g in working)

    def check(self, config: PartitionConfig, resume: str) -> list[dict]:
        """The committed gates ``config`` requires, the latest entry of each; refused, naming the next step, if one
        is missing (``resume``: the command that resumes the rollout at this partition)."""
        if not config.requires_gates:
            return []
        recorded = self.committed()
        found = []
        for gate in config.requires_gates:
            matches = [g for g in recorded if g.get("gate") == gate]
            partition = config.partition.value
            if not matches and self.uncommitted(gate, recorded):
                raise Refused(
                    f"{partition}: not started: gate {gate!r} is recorded in {GATES_PATH} but not committed; the "
                    f"rollout counts reviewed gates only: commit it (git add {GATES_PATH}; git commit), have it "
                    f"reviewed and merged, then resume with: {resume}"
                )
            if not matches:
                raise Refused(
                    f"{partition}: not started: gate {gate!r} is not recorded in {GATES_PATH}; when it is passed, "
                    f"run: python tools/rollout.py --record-gate {gate} --by <who> --note <evidence>, commit "
                    f"{GATES_PATH} for review, then resume with: {resume}"
                )
            found.append(matches[-1])
        return found

    def record(self, name: str, by: str, note: str, at: str, commit: str) -> dict:
        """Add a gate to the working copy's record (to be committed and reviewed)."""
        problem = rules.gate_names([name])
        if problem:
            raise UsageError(f"--record-gate must {problem.removeprefix('be a list of ')}, got: {name!r}")
        if name not in self.required:
            known = ", ".join(self.required) or "none: no instance file has [rollout] requires_gates"
            raise UsageError(f"--record-gate must name a gate an instance file requires ({known}), got: {name!r}")
        entry = {"gate": name, "by": by, "note": note, "at": at, "commit": commit}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_file(self.path, json.dumps(self.working() + [entry], indent=2) + "\n")
        return entry
