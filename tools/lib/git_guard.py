"""Is what we are about to deploy committed? Ask git about each input of the template.

The committed YAML is what reviewers approved; it is rendered from the instance
files and the template code. A file that is untracked, ignored, or differs from
``HEAD`` (staged or not) means the deploy would ship something no one reviewed.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

LOG = logging.getLogger(__name__)
GIT_TIMEOUT_SECONDS = 30


class NotAWorkTree(Exception):
    """The checkout is not a git work tree (or git is not installed): nothing to compare with."""


def _git(top: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise NotAWorkTree("git is not installed")
    result = subprocess.run(
        [git, "-C", str(top), *args],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        raise NotAWorkTree(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "git failed")
    return result.stdout


def uncommitted(paths: list[Path], checkout: Path) -> list[str]:
    """Each of ``paths`` (as shown relative to the work tree) that is not committed as it stands.

    Raises NotAWorkTree when ``checkout`` is not inside a git work tree.
    """
    top = Path(_git(checkout, "rev-parse", "--show-toplevel").strip())
    relative = sorted({str(path.resolve().relative_to(top.resolve())) for path in paths})
    tracked = set(_git(top, "ls-files", "-z", "--", *relative).split("\0"))
    changed = set()
    # Every entry "XY path" is a change against HEAD (staged, unstaged or untracked).
    for entry in _git(top, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *relative).split("\0"):
        if len(entry) > 3:
            changed.add(entry[3:])
    return [path for path in relative if path not in tracked or path in changed]
