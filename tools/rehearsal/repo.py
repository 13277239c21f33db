"""A committed copy of this checkout, so that deploy.py's committed-work guard passes in tests.

deploy.py refuses inputs that git has not committed. The tests must exercise the
code as it stands in the working tree (committed or not), so they run deploy.py
from a throw-away repository holding exactly the working tree's files in one
commit. Tests that need uncommitted work make it there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_IDENTITY = ["-c", "user.name=arda-tests", "-c", "user.email=tests@invalid", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``; its stdout."""
    return subprocess.run(["git", *_IDENTITY, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def committed_copy(dest: Path, source: Path = REPO) -> Path:
    """``dest`` as a git repository whose one commit holds the working tree of ``source``."""
    listed = git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        path = source / name
        if path.is_file():  # a tracked file deleted in the working tree is not copied
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "working tree under test")
    return dest
