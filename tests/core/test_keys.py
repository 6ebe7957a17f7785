"""One secret-to-key function (core.settings.key_bytes / subkey) behind tokens, payments, PII,
OTP and proof of work: same bytes for the same secret however it is given, empty refused with
the caller's error, per-purpose keys independent of each other."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkout import payments, pii
from flashsale.core.settings import Secret, key_bytes, subkey
from flashsale.front import tokens
from flashsale.front.admission import pow as proof

ANY_TEXT = st.text(st.characters(codec=None), min_size=1, max_size=300)
LABEL = st.binary(min_size=0, max_size=64)


@settings(max_examples=100, deadline=None)
@given(text=ANY_TEXT.filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t)))
def test_a_secret_is_its_utf8_bytes_however_it_is_given(text: str) -> None:
    raw = text.encode()
    assert key_bytes(Secret(text), "k") == key_bytes(text, "k") == key_bytes(raw, "k") == raw


@settings(max_examples=100, deadline=None)
@given(text=ANY_TEXT.filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t)), label=LABEL)
def test_subkey_is_hmac_of_the_label(text: str, label: bytes) -> None:
    expected = hmac.digest(text.encode(), label, hashlib.sha256)
    assert subkey(Secret(text), label, "k") == subkey(text, label, "k") == expected
    assert subkey(text, label + b"x", "k") != expected


@pytest.mark.parametrize("empty", [Secret(""), "", b""])
def test_empty_is_refused_with_the_callers_error(empty: Secret | str | bytes) -> None:
    with pytest.raises(ValueError, match=r"^token secret is empty$"):
        key_bytes(empty, "token secret")
    with pytest.raises(pii.PiiError, match="pii_key is empty"):
        key_bytes(empty, "pii_key", pii.PiiError)
    with pytest.raises(ValueError, match="OTP key is empty"):
        subkey(empty, b"label", "OTP key")


def test_the_callers_use_the_one_function() -> None:
    """Keys are unchanged: tokens and payments sign with the secret's bytes, proof of work with
    its HMAC subkey."""
    s = Secret("s3cret-ü")
    assert tokens._key(s) == payments._key(s) == b"s3cret-\xc3\xbc"
    assert proof._key(s) == hmac.digest(
        b"s3cret-\xc3\xbc", b"flashsale proof-of-work challenge", hashlib.sha256
    )
    with pytest.raises(ValueError, match="payment secret is empty"):
        payments.sign(Secret(""), b"{}", 1)
