"""This user's cache folders, and the one safe way to read their files.

A folder is ``$XDG_CACHE_HOME`` (default ``~/.cache``) ``/arda-partition-mail/<name>``.
What is kept there only saves work: it may be deleted at any time, and each cache
says itself why an entry someone else forged could not make a run do what it should
not (``tools.lib.lint_cache``, ``tools.lib.postmark_ids``). A folder is used only
while it is a real directory of this user's that nobody else may enter or write, and
a file is read only when it is a small regular file of this user's, opened without
following a link (a FIFO or a link someone planted is not read, nor waited on).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

ROOT = "arda-partition-mail"


def folder(name: str) -> Path:
    """The cache folder called ``name`` (not made here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / ROOT / name


def private(path: Path) -> bool:
    """``path`` is a real directory of this user's that nobody else may enter or write."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def read_small(path: Path, limit: int) -> bytes | None:
    """A regular file of this user's, at most ``limit`` bytes; None for anything else (a FIFO, a link)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        handle = os.open(path, flags)
    except OSError:
        return None
    with os.fdopen(handle, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_size > limit:
            return None
        return file.read(limit + 1)[:limit]
