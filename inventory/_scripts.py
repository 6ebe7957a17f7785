"""The Lua scripts of inventory/lua/, each prefixed with ``_lib.lua``.

Called with EVALSHA; on NOSCRIPT (restart, failover, SCRIPT FLUSH) the call is repeated as EVAL,
which runs the script and caches it again in one command. (redis-py's ``AsyncScript`` instead
does SCRIPT LOAD then EVALSHA, which fails if the cache is flushed again in between.)
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

ARG = str | int | bytes


class LuaScript:
    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(
        self, client: aioredis.Redis, keys: Sequence[str], args: Sequence[ARG]
    ) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)  # type: ignore[misc]

    async def load(self, client: aioredis.Redis) -> None:
        await client.script_load(self.source)


def _read(name: str) -> str:
    return resources.files("inventory").joinpath("lua", name).read_text(encoding="utf-8")


@functools.cache
def script(name: str) -> LuaScript:
    """The script ``inventory/lua/<name>.lua`` (read once per process)."""
    return LuaScript(name, _read("_lib.lua") + "\n" + _read(f"{name}.lua"))


NAMES = (
    "arm", "set_status", "extend", "restock", "load_numbers", "reserve", "confirm", "release",
    "sweep", "stats", "order", "purge",
)  # fmt: skip
