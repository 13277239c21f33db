"""Route 53's rules as the patches apply them: plain functions over record sets as dicts (no moto)."""

from __future__ import annotations


def same_name(a: str, b: str) -> bool:
    """Whether two DNS names are one (case and the trailing dot do not matter)."""
    return a.lower().rstrip(".") == b.lower().rstrip(".")
