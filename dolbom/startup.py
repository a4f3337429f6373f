"""Start-up of `dolbom serve`: after a kill -9 the bot must answer again within seconds.

Most of a restart used to be spent before the first poll, and most of that in one place:
`import aiogram` builds pydantic validators for every one of the Bot API's ~440 types (its
types package calls `model_rebuild()` on each at import), about three quarters of aiogram's
import time, although a care desk's bot meets some twenty of them. `defer_aiogram_validators`
imports aiogram with those builds deferred: each type's validator is built by pydantic the
first time it is used (aiogram declares its models with `defer_build=True` for this), with the
same names in reach, so the validators are the ones aiogram would have built.
The same holds for the Bot API's ~180 methods (`SendMessage`, ...): aiogram builds each one's
validator and serializer when its module is imported; `defer_aiogram_validators` marks them
`defer_build` too, so only the few the bot calls are built, on their first call.
tests/dolbom/test_startup.py checks that updates and replies validate and serialise the same.

The other half of a restart's CPU went to the garbage collector: the imports make some 220,000
objects that live as long as the process, and every full collection while they were being made
scanned all of them again (~100 ms each here). `pause_gc` turns the collector off for the
imports, `resume_gc` freezes what they made and turns it back on before the first update is
handled, and `settle_heap` collects once the other roles are loaded too (decision 0017).
"""

from __future__ import annotations

import gc
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

AIOGRAM_TYPES = "aiogram.types"
AIOGRAM_METHODS_BASE = "aiogram.methods.base"


class _DeferMethods(importlib.abc.MetaPathFinder):
    """Marks aiogram's TelegramMethod `defer_build` as soon as its module has run, before any method subclasses it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != AIOGRAM_METHODS_BASE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            # Subclasses merge their bases' model_config when they are made: every method
            # defined after this point builds its validator and serializer on first use.
            module.TelegramMethod.model_config["defer_build"] = True

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


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
    methods = _DeferMethods()
    sys.meta_path.insert(0, methods)
    try:
        import aiogram.types  # noqa: F401
    finally:
        sys.meta_path.remove(methods)
        BaseModel.model_rebuild = classmethod(eager)  # type: ignore[method-assign,assignment]
    # The forward references aiogram resolves with its namespace of all types are put in reach
    # of each type's module, where pydantic looks when it builds the validator on first use.
    for cls, namespace in deferred:
        module = vars(sys.modules[cls.__module__])
        for name, value in namespace.items():
            module.setdefault(name, value)
    return True


def pause_gc() -> None:
    """Turn the garbage collector off while `dolbom serve` imports what the bot needs (see resume_gc)."""
    gc.disable()


def resume_gc() -> None:
    """Freeze what the start-up made so far and turn the collector back on (a no-op if it was on).

    The imports leave almost no garbage (~2,000 unreachable objects of ~220,000); settle_heap
    unfreezes and collects them once the other roles are loaded.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def settle_heap() -> None:
    """Move everything imported at start-up out of the garbage collector's sight (gc.freeze).

    One event loop serves the bot, the console and the jobs. With the frameworks' hundreds of
    thousands of start-up objects in the oldest generation, a full collection took ~200 ms on this
    machine and held every bot answer back that long (bench/signin_loop_lag.py: 230-257 ms worst
    without this, 41 ms with it). Those objects live as long as the process, so they need not be
    scanned again.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.enable()
