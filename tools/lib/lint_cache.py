"""Remember that template bytes passed cfn-lint, so an unchanged template is not linted again.

The key is the SHA-256 of the template bytes, the installed cfn-lint version and
the regions: a new cfn-lint release, another region or one changed byte lints
again. Only passes are stored (with their warnings, which are shown again); an
error is never cached. The cache lives in ``$XDG_CACHE_HOME`` (default
``~/.cache``)/arda-partition-mail/cfn-lint and may be deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tools.lib.output import write_file

LOG = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where passes are remembered."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "arda-partition-mail" / "cfn-lint"


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


def passed(cache_key: str) -> list[str] | None:
    """The warnings of an earlier pass of the same key, or None when there was none."""
    path = cache_dir() / cache_key
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    warnings = record.get("warnings") if isinstance(record, dict) else None
    return [str(w) for w in warnings] if isinstance(warnings, list) else None


def remember(cache_key: str, warnings: list[str]) -> None:
    """Store a pass; a cache that cannot be written only costs the next run a lint."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_file(folder / cache_key, json.dumps({"warnings": warnings}))
    except OSError as exc:
        LOG.debug("cfn-lint cache not written (%s)", exc)
