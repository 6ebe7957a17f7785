"""The operator credential (flashsale.core.audit) and the parsers marketers' input goes through."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from catalog import InvalidInput, InvalidNumbersFile, InvalidWindow, parse_numbers_file
from catalog.money import parse_data, parse_gift, parse_yuan, yuan
from catalog.numbers import normalise_number
from catalog.times import parse_time, zone
from flashsale.core.audit import (
    AdminAuthError,
    authenticate,
    cli_operator,
    configured_token,
    default_actor,
    verify_token,
)
from flashsale.core.settings import Secret, Settings


def test_verify_token() -> None:
    settings = Settings(admin_token=Secret("s3cret"))
    assert verify_token("s3cret", settings)
    assert verify_token(Secret("s3cret"), settings)
    assert not verify_token("s3cre", settings)
    assert not verify_token(None, settings)
    assert not verify_token("", Settings(admin_token=Secret("")))  # unset never matches
    assert "s3cret" not in repr(settings)
    with pytest.raises(AdminAuthError, match="required"):
        authenticate(None, settings)
    assert authenticate("s3cret", settings, "bob").actor == "bob"


def test_cli_operator_sources(tmp_path: Path) -> None:
    env = {"FLASHSALE_DATA_DIR": str(tmp_path), "FLASHSALE_OPERATOR": "carol"}
    token = configured_token(env).reveal()
    assert token  # dev: generated into secrets.json
    # FLASHSALE_ADMIN_TOKEN presents a credential; it does not define the expected one
    with pytest.raises(AdminAuthError, match="rejected"):
        cli_operator(None, {**env, "FLASHSALE_ADMIN_TOKEN": "anything"})
    assert cli_operator(None, {**env, "FLASHSALE_ADMIN_TOKEN": token}).actor == "carol"
    path = tmp_path / "tok"
    path.write_text(token + "\n")
    assert cli_operator(path, env).actor == "carol"
    with pytest.raises(AdminAuthError, match="cannot read"):
        cli_operator(tmp_path / "missing", env)
    assert default_actor({"FLASHSALE_OPERATOR": "dave"}) == "dave"
    assert default_actor({})


def test_production_needs_token_file(tmp_path: Path) -> None:
    secrets = {f"FLASHSALE_{n.upper()}": "x" for n in ("token_secret", "payment_secret", "pii_key")}
    env = {**secrets, "FLASHSALE_ENV": "production", "FLASHSALE_ADMIN_TOKEN": "prod-token"}
    with pytest.raises(AdminAuthError, match="--token-file"):
        cli_operator(None, env)
    path = tmp_path / "tok"
    path.write_text("prod-token")
    assert cli_operator(path, env)
    path.write_text("guess")
    with pytest.raises(AdminAuthError):
        cli_operator(path, env)


def test_money_and_terms() -> None:
    assert parse_yuan("20") == 2000
    assert parse_yuan("19.9") == 1990
    assert yuan(1990) == "19.90"
    for bad in ("1.001", "-1", "abc", "NaN"):
        with pytest.raises(InvalidInput):
            parse_yuan(bad)
    assert parse_data("1GB") == 1024
    assert parse_data("500 MB") == 500
    assert parse_gift("credit=1000") == {"kind": "credit", "amount": 1000, "unit": "CNY"}
    assert parse_gift("data=1 GB") == {"kind": "data", "amount": "1 GB"}


def test_numbers_file() -> None:
    parsed = parse_numbers_file("13800138000\n\n# note\n13912345678, 88.8\n")
    assert [(n.number, n.surcharge_fen) for n in parsed] == [
        ("13800138000", 0),
        ("13912345678", 8880),
    ]
    for bad in (
        "12800138000\n",
        "1380013800\n",
        "13800138000\n13800138000\n",
        "",
        "13800138000,x\n",
        "+85 138 0013 8000\n",
        "86 13800138000\n",
        "138_0013_8000\n",
        "\uff11\uff13\uff18" + "\uff10" * 8 + "\n",  # full-width digits are not ASCII digits
    ):
        with pytest.raises(InvalidNumbersFile):
            parse_numbers_file(bad)


def test_numbers_as_people_type_them() -> None:
    typed = "\ufeff+86 138 0013 8000\n139-1234-5678,88\n0086 186 0100 9101\n 150\t1234 5678 \n"
    assert [n.number for n in parse_numbers_file(typed)] == [
        "13800138000",
        "13912345678",
        "18601009101",
        "15012345678",
    ]
    # the same number typed two ways is one duplicate
    with pytest.raises(InvalidNumbersFile, match="duplicates line 1"):
        parse_numbers_file("13800138000\n+86 138-0013-8000\n")


@hsettings(max_examples=150, deadline=None)
@given(
    number=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    prefix=st.sampled_from(["", "+86", "+86 ", "0086", "0086 "]),
    cuts=st.lists(st.sampled_from([" ", "-", "\t", " - "]), min_size=10, max_size=10),
)
def test_any_spacing_normalises(number: str, prefix: str, cuts: list[str]) -> None:
    spaced = prefix + "".join(
        d + (cuts[i] if i < 10 and i % 3 == 2 else "") for i, d in enumerate(number)
    )
    assert normalise_number(spaced) == number
    assert [n.number for n in parse_numbers_file(spaced + "\n")] == [number]


@hsettings(max_examples=150, deadline=None)
@given(text=st.text(st.characters(codec=None), max_size=200))
def test_any_text_is_numbers_or_a_refusal(text: str) -> None:
    try:
        parsed = parse_numbers_file(text)
    except InvalidNumbersFile as exc:
        refusal = exc.message
        parsed = []
    else:
        refusal = "numbers file refused"
    assert refusal.startswith("numbers file refused")
    for n in parsed:
        assert n.number.isascii()
        assert len(n.number) == 11


def test_times() -> None:
    shanghai = zone("Asia/Shanghai")
    assert parse_time("2026-05-17 10:00", shanghai).isoformat() == "2026-05-17T10:00:00+08:00"
    assert parse_time("2026-05-17T10:00Z", shanghai).utcoffset() is not None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("+30m", shanghai, now) == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    berlin = zone("Europe/Berlin")
    with pytest.raises(InvalidWindow, match="does not exist"):
        parse_time("2026-03-29 02:30", berlin)
    with pytest.raises(InvalidWindow, match="ambiguous"):
        parse_time("2026-10-25 02:30", berlin)
    with pytest.raises(InvalidWindow):
        zone("Not/AZone")
