"""One-shot Redis commands survive the client's own retry (issue 12, smaller defects).

``flashsale.core.redis`` re-sends a command when the connection drops before its reply
arrives, so the command runs twice. A TCP proxy in front of the real Redis drops exactly one
reply: a valid callback must not become "replayed", a valid code not "expired", a wrong code
not count twice, a sent code not answer "cooldown".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from checkout import payments
from flashsale.core.redis import redis_client
from flashsale.core.settings import Secret, Settings
from flashsale.front import otp


class DropOneReply:
    """Forwards bytes both ways; when armed, swallows the next reply and cuts the connection
    (the command has reached Redis and run; only its answer is lost)."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.armed = False
        self.dropped = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, replies: bool) -> None:
            try:
                while data := await src.read(65536):
                    if replies and self.armed:
                        self.armed = False
                        self.dropped += 1
                        break
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                for w in (writer, up_writer):
                    w.close()

        tasks = [
            asyncio.create_task(pump(reader, up_writer, False)),
            asyncio.create_task(pump(up_reader, writer, True)),
        ]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.difference_update(tasks)


@contextlib.asynccontextmanager
async def flaky_redis(settings: Settings) -> AsyncIterator[tuple[aioredis.Redis, DropOneReply]]:
    """The production client (its Retry included), through the proxy, on the test database."""
    parts = urlsplit(settings.redis_url)
    proxy = DropOneReply(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    client = redis_client(f"redis://127.0.0.1:{proxy.port}{parts.path or '/9'}")
    try:
        await client.ping()  # connected and handshaken: the next reply is the command's
        yield client, proxy
    finally:
        await client.aclose()
        await proxy.aclose()


async def test_callback_whose_reply_was_lost_is_not_a_replay(
    settings: Settings, unique: str
) -> None:
    provider = payments.PaymentProvider(settings.payment_secret)
    payment = provider.start(f"lost{unique}-1", 2000)
    callback = provider.confirm(payment)
    async with flaky_redis(settings) as (client, proxy):
        proxy.armed = True
        event = await payments.verify_callback(
            settings.payment_secret, callback.body, callback.signature, client
        )
        assert proxy.dropped == 1
        assert proxy.connections >= 2  # the client reconnected and sent the SET again
        assert event.payment_id == payment.payment_id
        # a true replay of the same callback is still refused
        with pytest.raises(payments.ReplayedCallback):
            await payments.verify_callback(
                settings.payment_secret, callback.body, callback.signature, client
            )
        # forgetting the accepted event (applying it failed) lets the provider's retry in
        await payments.forget_callback(client, event)
        again = await payments.verify_callback(
            settings.payment_secret, callback.body, callback.signature, client
        )
        assert again.id == event.id


def _phone(unique: str, prefix: str) -> str:
    return f"{prefix}{int(unique[:8], 16) % 10**8:08d}"


async def _code(client: aioredis.Redis, phone: str, key: Secret) -> str:
    """A fresh code for ``phone`` (dev mode hands it back)."""
    sent = await otp.request_code(client, phone, key=key, dev=True)
    assert sent.code is not None
    return sent.code


async def test_code_request_whose_reply_was_lost_is_not_a_cooldown(
    settings: Settings, unique: str
) -> None:
    phone = _phone(unique, "139")
    async with flaky_redis(settings) as (client, proxy):
        proxy.armed = True
        sent = await otp.request_code(client, phone, key=settings.pii_key, dev=True)
        assert proxy.dropped == 1
        assert sent.code is not None
        with pytest.raises(otp.Cooldown):  # a second request of its own still waits
            await otp.request_code(client, phone, key=settings.pii_key, dev=True)


async def test_code_whose_reply_was_lost_still_logs_in(settings: Settings, unique: str) -> None:
    phone = _phone(unique, "138")
    key = settings.pii_key
    async with flaky_redis(settings) as (client, proxy):
        code = await _code(client, phone, key)
        proxy.armed = True
        buyer = await otp.verify_code(client, phone, code, key=key)
        assert proxy.dropped == 1
        assert buyer == otp.buyer_id_for(phone, key)
        # consumed: the same code in a new attempt is refused
        with pytest.raises(otp.NoActiveCode):
            await otp.verify_code(client, phone, code, key=key)


async def test_wrong_code_whose_reply_was_lost_counts_once(settings: Settings, unique: str) -> None:
    phone = _phone(unique, "136")
    key = settings.pii_key
    async with flaky_redis(settings) as (client, proxy):
        code = await _code(client, phone, key)
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        proxy.armed = True
        with pytest.raises(otp.WrongCode) as info:
            await otp.verify_code(client, phone, wrong, key=key)
        assert proxy.dropped == 1
        assert info.value.attempts_left == otp.DEFAULT_POLICY.max_attempts - 1
        assert await otp.verify_code(client, phone, code, key=key)


async def test_same_attempt_token_gets_the_same_answer(settings: Settings, unique: str) -> None:
    """What the retry does, spelled out: the script run twice with one attempt token."""
    phone = _phone(unique, "137")
    key = settings.pii_key
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        code = await _code(client, phone, key)
        token = f"attempt-{unique}-{time.time_ns()}"
        first = await otp.verify_code(client, phone, code, key=key, attempt=token)
        second = await otp.verify_code(client, phone, code, key=key, attempt=token)
        assert first == second
        with pytest.raises(otp.NoActiveCode):
            await otp.verify_code(client, phone, code, key=key, attempt=token + "-other")
    finally:
        await client.aclose()
