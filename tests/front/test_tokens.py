from __future__ import annotations

import base64
import hashlib
import hmac

import orjson
import pytest
from click.testing import CliRunner

from checkout import idnumber
from flashsale.cli import main
from flashsale.core.settings import Secret, Settings
from flashsale.front.otp import buyer_id_for, normalize_phone
from flashsale.front.tokens import Claims, TokenError, issue, verify

SECRET = Secret("token-secret-for-tests")
NOW = 1_800_000_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(
    payload: dict[str, object],
    header: bytes = b'{"alg":"HS256","typ":"JWT"}',
    key: bytes = b"token-secret-for-tests",
) -> str:
    signing_input = f"{_b64(header)}.{_b64(orjson.dumps(payload))}"
    sig = hmac.digest(key, signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64(sig)}"


def _reason(token: object, **kwargs: object) -> str:
    with pytest.raises(TokenError) as caught:
        verify(SECRET, token, **{"now": NOW, **kwargs})  # type: ignore[arg-type]
    assert caught.value.code == "unauthorized"
    return caught.value.reason


def test_round_trip() -> None:
    token = issue(SECRET, "b_123", 3600, now=NOW)
    assert verify(SECRET, token, now=NOW + 10) == Claims("b_123", NOW, NOW + 3600, "buyer", None)
    assert verify("token-secret-for-tests", token, now=NOW).sub == "b_123"
    assert token.count(".") == 2
    assert verify(SECRET, issue(SECRET, "b_123", 60)).sub == "b_123"  # real clock


def test_round_bound_token() -> None:
    token = issue(SECRET, "b_1", 60, round_id="r1", now=NOW)
    assert verify(SECRET, token, now=NOW, round_id="r1").rid == "r1"
    assert verify(SECRET, token, now=NOW).rid == "r1"  # no round in context: still the buyer
    assert _reason(token, round_id="r2") == "wrong_round"


def test_unbound_buyer_token_works_for_any_round() -> None:
    token = issue(SECRET, "b_1", 60, now=NOW)
    assert verify(SECRET, token, now=NOW, round_id="r9").sub == "b_1"


def test_admission_token() -> None:
    token = issue(SECRET, "b_1", 60, typ="admission", round_id="r1", now=NOW)
    assert verify(SECRET, token, now=NOW, round_id="r1", typ="admission").typ == "admission"
    assert _reason(token, round_id="r1") == "wrong_type"  # not a buyer token
    assert _reason(token, round_id="r2", typ="admission") == "wrong_round"
    assert _reason(token, typ="admission") == "wrong_round"  # must be verified in its round
    with pytest.raises(ValueError, match="round"):
        issue(SECRET, "b_1", 60, typ="admission")


def test_buyer_token_is_not_an_admission_token() -> None:
    token = issue(SECRET, "b_1", 60, round_id="r1", now=NOW)
    assert _reason(token, round_id="r1", typ="admission") == "wrong_type"


def test_expired() -> None:
    token = issue(SECRET, "b_1", 60, now=NOW)
    assert verify(SECRET, token, now=NOW + 59).sub == "b_1"
    assert _reason(token, now=NOW + 60) == "expired"


def test_issued_in_the_future() -> None:
    token = issue(SECRET, "b_1", 3600, now=NOW + 600)
    assert _reason(token) == "not_yet_valid"


def test_forged_with_another_key() -> None:
    token = issue(Secret("another-secret"), "b_1", 60, now=NOW)
    assert _reason(token) == "bad_signature"


def test_altered_payload() -> None:
    token = issue(SECRET, "b_1", 60, now=NOW)
    header, _, sig = token.split(".")
    payload = _b64(orjson.dumps({"sub": "b_2", "iat": NOW, "exp": NOW + 60, "typ": "buyer"}))
    assert _reason(f"{header}.{payload}.{sig}") == "bad_signature"


def test_every_character_change_refused() -> None:
    token = issue(SECRET, "b_1", 60, round_id="r1", now=NOW)
    for i in range(len(token)):
        for ch in "Aa0_-.":
            if token[i] != ch:
                with pytest.raises(TokenError):
                    verify(SECRET, token[:i] + ch + token[i + 1 :], now=NOW, round_id="r1")


def test_alg_none_and_other_headers_refused() -> None:
    payload = {"sub": "b_1", "iat": NOW, "exp": NOW + 60, "typ": "buyer"}
    assert _reason(_sign(payload, header=b'{"alg":"none","typ":"JWT"}')) == "malformed"
    unsigned = _sign(payload).rpartition(".")[0] + "."
    assert _reason(unsigned) == "bad_signature"


@pytest.mark.parametrize(
    "payload",
    [
        {"sub": "", "iat": NOW, "exp": NOW + 60},
        {"sub": 5, "iat": NOW, "exp": NOW + 60},
        {"sub": "b", "iat": "now", "exp": NOW + 60},
        {"sub": "b", "iat": NOW, "exp": float(NOW + 60)},
        {"sub": "b", "iat": NOW},
        {"sub": "b", "iat": NOW, "exp": NOW + 60, "typ": "admin"},
        {"sub": "b", "iat": NOW, "exp": NOW + 60, "rid": 7},
    ],
)
def test_validly_signed_but_malformed_claims(payload: dict[str, object]) -> None:
    assert _reason(_sign(payload)) == "malformed"


def test_signed_non_object_payload() -> None:
    assert _reason(_sign([1, 2])) == "malformed"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "..", "abc", "a.b.c", "Bearer x", "é.é.é", None, 42, "eyJhbGciOiJIUzI1NiJ9.e30.x"],
)
def test_garbage(garbage: object) -> None:
    assert _reason(garbage) in {"malformed", "bad_signature"}


def test_issue_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="ttl"):
        issue(SECRET, "b_1", 0)
    with pytest.raises(ValueError, match="buyer_id"):
        issue(SECRET, "", 60)
    with pytest.raises(ValueError, match="empty"):
        issue(Secret(""), "b_1", 60)


# `flashsale tokens mint`


@pytest.fixture
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        "FLASHSALE_ENV": "dev",
        "FLASHSALE_DATA_DIR": str(tmp_path_factory.mktemp("mint-data")),
        "FLASHSALE_TOKEN_SECRET": "mint-test-token-secret",
        "FLASHSALE_PII_KEY": "mint-test-pii-key",
        "FLASHSALE_ADMIN_TOKEN": "x",
        "FLASHSALE_PAYMENT_SECRET": "y",
    }


def _mint(cli_env: dict[str, str], *args: str) -> list[dict[str, str]]:
    result = CliRunner().invoke(main, ["tokens", "mint", *args, "--out", "-"], env=cli_env)
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in result.stdout_bytes.splitlines()]


def test_mint_writes_valid_distinct_buyers(cli_env: dict[str, str]) -> None:
    settings = Settings.from_env(cli_env)
    rows = _mint(cli_env, "--count", "500", "--ttl", "600")
    assert len(rows) == 500
    for row in rows:
        assert {"token", "buyer_id", "id_number", "real_name", "phone", "address"} <= row.keys()
        claims = verify(settings.token_secret, row["token"])
        assert claims.sub == row["buyer_id"]
        assert claims.exp - claims.iat == 600
        assert idnumber.validate(row["id_number"]) == row["id_number"]
        assert normalize_phone(row["phone"]) == row["phone"]
        assert row["buyer_id"] == buyer_id_for(row["phone"], settings.pii_key)
        region = idnumber.region_of(row["id_number"])
        assert region is not None
        assert row["address"].startswith(region.province)
        assert 2 <= len(row["real_name"]) <= 3
    for field in ("buyer_id", "id_number", "phone", "token"):
        assert len({row[field] for row in rows}) == 500, field
    with pytest.raises(TokenError):
        verify("another-secret", rows[0]["token"])


def test_mint_round_binding_and_seed(cli_env: dict[str, str]) -> None:
    settings = Settings.from_env(cli_env)
    rows = _mint(cli_env, "-n", "20", "--round", "r42", "--seed", "7")
    again = _mint(cli_env, "-n", "20", "--round", "r42", "--seed", "7")
    assert [r["id_number"] for r in rows] == [r["id_number"] for r in again]
    for row in rows:
        assert verify(settings.token_secret, row["token"], round_id="r42").rid == "r42"
        with pytest.raises(TokenError) as caught:
            verify(settings.token_secret, row["token"], round_id="r43")
        assert caught.value.reason == "wrong_round"


def test_mint_to_file_with_summary(
    cli_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("mint-out") / "buyers.jsonl"
    result = CliRunner().invoke(
        main, ["tokens", "mint", "--count", "3", "--out", str(out), "--json"], env=cli_env
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["count"] == 3
    assert len(out.read_bytes().splitlines()) == 3


def test_mint_refuses_bad_arguments(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(main, ["tokens", "mint", "--count", "0", "--out", "-"], env=cli_env).exit_code
        == 2
    )
    assert runner.invoke(main, ["tokens", "mint"], env=cli_env).exit_code == 2  # --count needed
    result = runner.invoke(
        main, ["tokens", "mint", "-n", "1", "-o", "/nonexistent/dir/x"], env=cli_env
    )
    assert result.exit_code == 1
    assert "cannot write" in result.output
