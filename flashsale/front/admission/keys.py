"""Redis key names of admission control. A round's keys share its hash tag ``{r:<id>}`` (see
``inventory.keys``); rate-limit counts live in one hash per limit and window, and the index of
rounds with options set is a cross-round key that no round script is given.
"""

from __future__ import annotations

from inventory.keys import RoundKeys


class AdmissionKeys:
    __slots__ = ("_keys",)

    def __init__(self, round_id: str) -> None:
        self._keys = RoundKeys(round_id)

    @property
    def options(self) -> str:
        """Hash: room (0/1), rate (admissions per second), pow_bits (0 = off)."""
        return self._keys.key("adm")

    @property
    def queue(self) -> str:
        """Sorted set buyer → random score (joined before the start) or 2^52 + join ms (after)."""
        return self._keys.key("wrq")

    @property
    def cursor(self) -> str:
        """Hash: cursor (admitted so far, fractional), last_ms (when the cursor last moved)."""
        return self._keys.key("wrc")

    @property
    def meta(self) -> str:
        """The round's meta hash (``starts_ms``), owned by the inventory."""
        return self._keys.meta

    def challenge(self, nonce: str) -> str:
        """String: the Idempotency-Key that spent this challenge (expires with it)."""
        return self._keys.key(f"pow:{nonce}")


def rate_counts(limit: str, window: int) -> tuple[str, str]:
    """Hashes key → requests in one window of one limit: all keys, and the hot ones (at least
    half the burst), which every worker pulls."""
    tag = f"fs:rl:{{rl:{limit}:{window}}}"
    return tag, f"{tag}:hot"
