"""Is what we are about to deploy what was reviewed? Ask git's object store, and compare bytes.

The committed YAML is what reviewers approved; it is rendered from the instance
files and the template code. The guard answers from ``HEAD``'s tree and the bytes
on disk, never from the index or its stat cache (``--assume-unchanged``,
``--skip-worktree``, a ``core.fsmonitor`` hook or a corrupt index cannot hide a
change), and covers every file Python could import for rendering:

- every file under the guarded folders (``templates/``, ``instances/``) must be in
  ``HEAD`` with the same bytes; an untracked file (a package that would shadow a
  module), a symlink or a submodule there is refused;
- every ``templates`` and ``instances`` module this process imported must be one of
  those files, byte for byte (a ``.pth`` file, ``sitecustomize`` or ``PYTHONPATH``
  entry that puts another ``templates`` package first is refused).

git runs without the caller's ``GIT_*`` variables (a ``GIT_DIR`` elsewhere does not
change the answer). When git cannot answer (not installed, not a work tree, a
repository git refuses), ``GitUnanswered`` says why; the deploy then refuses unless
the operator passed the one override for deploys outside a git checkout.
Bytecode caches (``__pycache__``) are not compared: a ``.pyc`` is used only for the
source it was compiled from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

GIT_TIMEOUT_SECONDS = 30
GUARDED = ("templates", "instances")
PACKAGES = ("templates", "instances")


class GitUnanswered(Exception):
    """git could not say what HEAD holds; ``outside`` when there is no git work tree (or no git) at all."""

    def __init__(self, reason: str, *, outside: bool = False) -> None:
        super().__init__(reason)
        self.outside = outside


@dataclass(frozen=True)
class Blob:
    """One entry of HEAD's tree: its mode and object ID."""

    mode: str
    sha: str


def _git(top: Path, *args: str, stdin: bytes | None = None) -> bytes:
    git = shutil.which("git")
    if git is None:
        raise GitUnanswered("git is not installed", outside=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        result = subprocess.run(
            [git, "-C", str(top), *args],
            input=stdin,
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitUnanswered(f"git did not answer ({type(exc).__name__})") from None
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = next((line for line in lines if line.startswith("fatal:")), lines[-1] if lines else "git failed")
        raise GitUnanswered(reason, outside="not a git repository" in reason)
    return result.stdout


def head_tree(top: Path, folders: Iterable[str]) -> dict[str, Blob]:
    """HEAD's entries under ``folders`` (paths relative to ``top``): mode and object ID."""
    listing = _git(top, "ls-tree", "-r", "-z", "--full-tree", "HEAD", "--", *folders)
    tree = {}
    for entry in filter(None, listing.split(b"\0")):
        meta, _, path = entry.partition(b"\t")
        mode, _kind, sha = meta.decode().split()
        tree[path.decode("utf-8", "surrogateescape")] = Blob(mode, sha)
    return tree


def blob_size(top: Path, sha: str) -> int:
    """The size in bytes of one blob, asked before reading it (``git cat-file -s``)."""
    return int(_git(top, "cat-file", "-s", sha).decode().strip())


def blobs(top: Path, shas: list[str]) -> dict[str, bytes]:
    """The contents of these blobs, from the object store (one ``git cat-file --batch``)."""
    if not shas:
        return {}
    out = _git(top, "cat-file", "--batch", stdin="".join(f"{sha}\n" for sha in shas).encode())
    found, position = {}, 0
    for sha in shas:
        header_end = out.index(b"\n", position)
        header = out[position:header_end].split()
        if len(header) != 3:
            raise GitUnanswered(f"git has no object {sha} that HEAD names")
        size = int(header[2])
        found[sha] = out[header_end + 1 : header_end + 1 + size]
        position = header_end + 1 + size + 1
    return found


def unreviewed(root: Path, modules: Iterable | None = None) -> list[str]:
    """What under ``root``'s guarded folders, or among the imported modules, is not HEAD's bytes; [] when all is.

    Raises GitUnanswered when git cannot say.
    """
    root = root.resolve()
    top = Path(_git(root, "rev-parse", "--show-toplevel").decode().strip()).resolve()
    try:
        prefix = root.relative_to(top)
    except ValueError:
        raise GitUnanswered(f"{root} is not inside the git work tree {top}") from None
    folders = [(prefix / folder).as_posix() for folder in GUARDED]
    tree = head_tree(top, folders)
    contents = blobs(top, sorted({b.sha for b in tree.values() if b.mode in ("100644", "100755")}))
    problems = []
    for path, blob in sorted(tree.items()):
        on_disk = top / path
        if blob.mode not in ("100644", "100755"):
            problems.append(f"{path} (a {'symlink' if blob.mode == '120000' else 'submodule'} in HEAD)")
        elif on_disk.is_symlink():
            problems.append(f"{path} (a symlink on disk)")
        elif not on_disk.is_file():
            problems.append(f"{path} (deleted)")
        elif on_disk.read_bytes() != contents[blob.sha]:
            problems.append(f"{path} (differs from HEAD)")
    for folder in folders:
        for current, dirs, files in os.walk(top / folder):
            dirs[:] = [d for d in dirs if d != "__pycache__" or Path(current, d).is_symlink()]
            for name in [*files, *(d for d in dirs if Path(current, d).is_symlink())]:
                path = (Path(current) / name).relative_to(top).as_posix()
                if path not in tree:
                    problems.append(f"{path} (untracked)")
    for module in modules if modules is not None else list(sys.modules.values()):
        problem = _module_problem(module, tree, contents)
        if problem:
            problems.append(problem)
    return sorted(set(problems))


def _module_problem(module, tree: dict[str, Blob], contents: dict[str, bytes]) -> str | None:
    """Why an imported ``templates``/``instances`` module is not a reviewed file, or None."""
    name = getattr(module, "__name__", "")
    if name.split(".")[0] not in PACKAGES:
        return None
    source = getattr(module, "__file__", None)
    if source is None:
        return f"module {name} (a namespace package: not a file HEAD holds)"
    path = Path(source)
    package_root = path.parents[len(name.split(".")) - (0 if path.name == "__init__.py" else 1)]
    relative = path.relative_to(package_root).as_posix()
    blob = next((b for p, b in tree.items() if p == relative or p.endswith("/" + relative)), None)
    if blob is None or blob.sha not in contents:
        return f"module {name} loaded from {source} (not a file HEAD holds)"
    try:
        if path.is_symlink() or path.read_bytes() != contents[blob.sha]:
            return f"module {name} loaded from {source} (not HEAD's bytes)"
    except OSError:
        return f"module {name} loaded from {source} (cannot be read)"
    return None
