"""Remember that template bytes passed cfn-lint, so an unchanged template is not linted again.

The key is the SHA-256 of the template bytes, the installed cfn-lint version and
the regions: a new cfn-lint release, another region or one changed byte lints
again. Only passes are stored (with their warnings, which are shown again); an
error is never cached.

A pass lets a template deploy, so an entry must not be forgeable by anyone but the
user who linted it: the folder (``$XDG_CACHE_HOME``, default ``~/.cache``,
``/arda-partition-mail/cfn-lint``) must be this user's own with no access for
anyone else, and each entry carries an HMAC under a key kept there (0600). An
entry that is not a small regular file, a folder someone else could write, a
missing key or a wrong MAC: the template is linted again. The cache may be deleted
at any time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tools.lib import user_cache
from tools.lib.output import console, write_file

LOG = logging.getLogger(__name__)
KEY_FILE = ".key"
MAX_ENTRY_BYTES = 256 * 1024


def cache_dir() -> Path:
    """Where passes are remembered."""
    return user_cache.folder("cfn-lint")


def key(body: str, regions: list[str]) -> str:
    """The cache key of these bytes, this cfn-lint and these regions."""
    try:
        linter = version("cfn-lint")
    except PackageNotFoundError:
        linter = "unknown"
    digest = hashlib.sha256()
    for part in (linter, ",".join(sorted(regions)), body):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _mac(secret: bytes, cache_key: str, warnings: list[str]) -> str:
    message = cache_key.encode() + b"\0" + json.dumps(warnings, sort_keys=True).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _secret(folder: Path, *, create: bool) -> bytes | None:
    """The folder's HMAC key (0600), made when asked and absent."""
    path = folder / KEY_FILE
    found = user_cache.read_small(path, MAX_ENTRY_BYTES)
    if found is not None and len(found) == 32 and not os.stat(path).st_mode & 0o077:
        return found
    if not create or found is not None:
        return None
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return None
    new = secrets.token_bytes(32)
    with os.fdopen(handle, "wb") as file:
        file.write(new)
    return new


def passed(cache_key: str) -> list[str] | None:
    """The warnings of an earlier, authentic pass of the same key; None when there is none to trust."""
    folder = cache_dir()
    if not user_cache.private(folder):
        return None
    secret = _secret(folder, create=False)
    raw = user_cache.read_small(folder / cache_key, MAX_ENTRY_BYTES) if secret else None
    try:
        record = json.loads(raw) if raw else None
    except (ValueError, RecursionError):  # "[[[...": nested past the parser, within the size limit
        return None
    if not isinstance(record, dict) or not isinstance(record.get("warnings"), list):
        return None
    warnings = [str(w) for w in record["warnings"]]
    if not hmac.compare_digest(str(record.get("mac", "")), _mac(secret, cache_key, warnings)):
        console().warning(f"cfn-lint cache entry {cache_key[:12]} is not one this user wrote: linting again")
        return None
    return warnings


def remember(cache_key: str, warnings: list[str]) -> None:
    """Store a pass; a cache that cannot be written (or trusted) only costs the next run a lint."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = os.lstat(folder)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077:
            folder.chmod(0o700)  # ours, but open to others (an older version made it so): close it
            (folder / KEY_FILE).unlink(missing_ok=True)  # a key others could read signs nothing any more
        if not user_cache.private(folder):
            LOG.debug("cfn-lint cache not written: %s is not a private folder", folder)
            return
        secret = _secret(folder, create=True)
        if secret is None:
            (folder / KEY_FILE).unlink(missing_ok=True)
            secret = _secret(folder, create=True)
        if secret is None:
            return
        record = {"warnings": warnings, "mac": _mac(secret, cache_key, warnings)}
        write_file(folder / cache_key, json.dumps(record), mode=0o600, secret_free=False)
    except OSError as exc:
        LOG.debug("cfn-lint cache not written (%s)", exc)
