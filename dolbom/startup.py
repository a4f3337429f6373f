"""Start-up of `dolbom serve`: after a kill -9 the bot must answer again within seconds.

Most of a restart used to be spent before the first poll, and most of that in one place:
`import aiogram` builds pydantic validators for every one of the Bot API's ~440 types (its
types package calls `model_rebuild()` on each at import), about three quarters of aiogram's
import time, although a care desk's bot meets some twenty of them. `defer_aiogram_validators`
imports aiogram with those builds deferred: each type's validator is built by pydantic the
first time it is used (aiogram declares its models with `defer_build=True` for this), with the
same names in reach, so the validators are the ones aiogram would have built.
tests/dolbom/test_startup.py checks that updates and replies validate and serialise the same.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

AIOGRAM_TYPES = "aiogram.types"


def defer_aiogram_validators() -> bool:
    """Import aiogram with its Bot API types' validators built on first use; False if it was imported already."""
    if AIOGRAM_TYPES in sys.modules:
        return False
    from pydantic import BaseModel

    eager = BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]
    deferred: list[tuple[type[BaseModel], dict[str, Any]]] = []

    def rebuild_later(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: dict[str, Any] | None = None,
    ) -> bool | None:
        if _types_namespace is not None and not force and cls.__module__.startswith(AIOGRAM_TYPES + "."):
            deferred.append((cls, _types_namespace))
            return None
        return eager(  # type: ignore[no-any-return]
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth + 1,
            _types_namespace=_types_namespace,
        )

    BaseModel.model_rebuild = classmethod(rebuild_later)  # type: ignore[method-assign,assignment]
    try:
        import aiogram.types  # noqa: F401
    finally:
        BaseModel.model_rebuild = classmethod(eager)  # type: ignore[method-assign,assignment]
    # The forward references aiogram resolves with its namespace of all types are put in reach
    # of each type's module, where pydantic looks when it builds the validator on first use.
    for cls, namespace in deferred:
        module = vars(sys.modules[cls.__module__])
        for name, value in namespace.items():
            module.setdefault(name, value)
    return True


def settle_heap() -> None:
    """Move everything imported at start-up out of the garbage collector's sight (gc.freeze).

    One event loop serves the bot, the console and the jobs. With the frameworks' hundreds of
    thousands of start-up objects in the oldest generation, a full collection took ~200 ms on this
    machine and held every bot answer back that long (bench/signin_loop_lag.py: 230-257 ms worst
    without this, 41 ms with it). Those objects live as long as the process, so they need not be
    scanned again.
    """
    gc.collect()
    gc.freeze()
