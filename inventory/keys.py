"""Redis key names. Every key of one round shares the hash tag ``{r:<round_id>}`` so each Lua
script touches one Redis Cluster slot; cross-round keys (the armed-rounds set) are never passed
to a round's scripts.
"""

from __future__ import annotations

from dataclasses import dataclass

ARMED_ROUNDS = "fs:armed"  # set of round ids armed into Redis (the relay reads their outboxes)


@dataclass(frozen=True)
class RoundKeys:
    round_id: str

    @property
    def tag(self) -> str:
        return f"{{r:{self.round_id}}}"

    def key(self, name: str) -> str:
        return f"fs:{self.tag}:{name}"

    @property
    def outbox(self) -> str:
        """Stream of order events (order.reserved, order.paid, ...) awaiting the Kafka relay."""
        return self.key("outbox")
