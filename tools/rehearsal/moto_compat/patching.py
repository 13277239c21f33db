"""How a patch changes moto: ``wrap`` puts a plain function around moto's (or an earlier patch's).

A wrapper is an ordinary module-level function that takes the function it wraps as its
first argument (``original``), then moto's own arguments, so it can be read and tested
without moto. Patches that wrap the same function compose in ``apply()``'s order: the
last installed runs outermost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal


def wrap(
    owner: Any,
    name: str,
    wrapper: Callable[..., Any],
    kind: Literal["function", "classmethod", "staticmethod"] = "function",
) -> None:
    """``owner.name(*args)`` becomes ``wrapper(original, *args)``.

    ``owner`` is a class or a module; ``kind`` says how the class holds the attribute
    (a classmethod's wrapper gets ``cls`` after ``original``, as the original does).
    """
    original = getattr(owner, name)
    if kind == "classmethod":
        original = original.__func__

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return wrapper(original, *args, **kwargs)

    if kind == "classmethod":
        setattr(owner, name, classmethod(wrapped))
    elif kind == "staticmethod":
        setattr(owner, name, staticmethod(wrapped))
    else:
        setattr(owner, name, wrapped)
