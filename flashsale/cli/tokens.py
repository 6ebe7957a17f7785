"""`flashsale tokens mint`: ready-made test buyers (token + made-up identity) for load tests.

Every identity is generated: a random mainland mobile number, a valid ID number with a random
serial (see :func:`checkout.idnumber.generate`), a common surname with random given-name
characters and an address in the ID's region. None of it belongs to a real person on purpose.
The buyer id is the one an OTP login with that phone would give (keyed by ``pii_key``).
"""

from __future__ import annotations

import os
import random
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click
import orjson

from checkout import idnumber
from flashsale.cli._output import CliError, console, emit, json_option
from flashsale.cli.common import opt
from flashsale.core.settings import Secret, Settings
from flashsale.front.otp import buyer_id_for
from flashsale.front.tokens import issue

SecretLike = Secret | str | bytes

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红娥玲芬燕彬鹏辉建国"
    "文婷雪梅晨宇浩然子轩欣怡梓涵一诺思远佳琪俊杰晓东志强海燕雨桐"
)
STREETS = (
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "和平路",
    "新华路",
    "文化路",
    "长江路",
    "黄河路",
    "朝阳路",
    "滨江路",
    "学府路",
    "科技路",
    "花园路",
    "青年路",
    "光明路",
)
COMPOUNDS = ("阳光小区", "幸福家园", "锦绣花园", "翠苑", "金色家园", "绿地城", "书香苑", "和谐家园")
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "147",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
)


def _name(rng: random.Random) -> str:
    given_len = 1 if rng.random() < 0.3 else 2
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(given_len))


def _address(rng: random.Random, region: idnumber.Region) -> str:
    city = "" if region.city == region.province else region.city
    return (
        f"{region.province}{city}{region.district}{rng.choice(STREETS)}{rng.randint(1, 999)}号"
        f"{rng.choice(COMPOUNDS)}{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元"
        f"{rng.randint(1, 33)}{rng.randint(1, 4):02d}室"
    )


def buyers(
    rng: random.Random,
    count: int,
    token_secret: SecretLike,
    buyer_key: SecretLike,
    ttl: int,
    round_id: str | None,
    now: float,
) -> Iterator[dict[str, object]]:
    """``count`` distinct test buyers (distinct phones, buyer ids and ID numbers)."""
    phones: set[str] = set()
    ids: set[str] = set()
    while len(phones) < count:
        phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        region = rng.choice(idnumber.REGIONS)
        id_number = idnumber.generate(rng, region=region)
        if phone in phones or id_number in ids:
            continue
        phones.add(phone)
        ids.add(id_number)
        buyer_id = buyer_id_for(phone, buyer_key)
        yield {
            "token": issue(token_secret, buyer_id, ttl, round_id=round_id, now=now),
            "buyer_id": buyer_id,
            "id_number": id_number,
            "real_name": _name(rng),
            "phone": phone,
            "address": _address(rng, region),
        }


@click.group()
def tokens() -> None:
    """Buyer tokens for tests and load tests."""


@tokens.command()
@click.option(
    "--count",
    "-n",
    type=click.IntRange(1, 10_000_000),
    required=True,
    help="How many buyers to write.",
)
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="JSON-lines file to write, mode 0600 ('-' for stdout; default: "
    "<data dir>/buyers.jsonl, i.e. .flashsale/buyers.jsonl, git-ignored).",
)
@opt(
    "--ttl",
    kind=click.IntRange(1),
    default=3600,
    help="Token lifetime in seconds.",
)
@click.option("--round", "round_id", default=None, help="Bind every token to this round.")
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Repeatable identities (tokens still differ by issue time).",
)
@json_option
def mint(
    count: int, out: str | None, ttl: int, round_id: str | None, seed: int | None, as_json: bool
) -> None:
    """Write COUNT ready test buyers as JSON lines: token, buyer_id, id_number, real_name,
    phone, address. Identities are generated, never real people, but the tokens are bearer
    credentials: the file is private (mode 0600) and by default in the git-ignored data folder,
    where the load tests look for it.

    \b
    Examples:
      flashsale tokens mint --count 100000
      flashsale tokens mint -n 5 -o - --round r2026-05-17-1 --ttl 600
    """
    settings = Settings.from_env()
    if out is None:
        default_buyers(settings).parent.mkdir(parents=True, exist_ok=True)
        out = str(default_buyers(settings))
    rng = random.Random(secrets.randbits(64) if seed is None else seed)  # noqa: S311 (demo data)
    started = time.perf_counter()
    now = time.time()
    lines = buyers(rng, count, settings.token_secret, settings.pii_key, ttl, round_id, now)
    try:
        if out == "-":
            _write(sys.stdout.buffer, lines)
        else:
            with _private(Path(out)) as fh:
                _write(fh, lines)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from exc
    elapsed = time.perf_counter() - started
    summary = {
        "count": count,
        "out": out,
        "ttl": ttl,
        "round": round_id,
        "expires_at": int(now) + ttl,
        "seconds": round(elapsed, 3),
    }
    if out == "-":
        return
    if as_json:
        emit(summary, as_json)
    else:
        console.print(
            f"wrote {count} buyers to {out} in {elapsed:.2f}s "
            f"(tokens expire in {ttl}s{f', round {round_id}' if round_id else ''})"
        )


def default_buyers(settings: Settings) -> Path:
    """Where minted buyers go unless told otherwise (and where the locustfile reads them)."""
    return settings.data_dir / "buyers.jsonl"


def _private(path: Path) -> IO[bytes]:
    """``path`` opened for writing, readable by its owner only (also when it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


def _write(fh: IO[bytes], lines: Iterator[dict[str, object]]) -> None:
    batch: list[bytes] = []
    for line in lines:
        batch.append(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
        if len(batch) >= 4096:
            fh.write(b"".join(batch))
            batch.clear()
    fh.write(b"".join(batch))
    fh.flush()
