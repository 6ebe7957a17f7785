"""The Lua scripts of ``flashsale/front/admission/lua/`` (EVALSHA, EVAL again on NOSCRIPT)."""

from __future__ import annotations

import functools
from importlib import resources

from inventory.scripts import LuaScript


@functools.cache
def script(name: str) -> LuaScript:
    source = resources.files("flashsale.front.admission").joinpath("lua", f"{name}.lua")
    return LuaScript(f"admission.{name}", source.read_text(encoding="utf-8"))
