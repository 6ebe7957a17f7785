"""The hot path's HMACs (a copy of the key's prepared state) and base64url (binascii) give
exactly what the standard-library one-shot functions give, for any input."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from checkout import pii
from flashsale.front import tokens

ALL_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)


@hypothesis_settings(max_examples=120, deadline=None)
@given(key=st.binary(min_size=16, max_size=80), data=st.binary(max_size=600))
def test_signature_is_hmac_sha256_base64url(key: bytes, data: bytes) -> None:
    expected = base64.urlsafe_b64encode(hmac.digest(key, data, hashlib.sha256)).rstrip(b"=")
    assert tokens._sign(key, data) == expected
    assert tokens._sign(key, data) == expected  # the prepared state is not consumed


@hypothesis_settings(max_examples=120, deadline=None)
@given(data=st.binary(max_size=300))
def test_base64url_matches_the_standard_library(data: bytes) -> None:
    assert tokens._b64(data) == base64.urlsafe_b64encode(data).rstrip(b"=")


@hypothesis_settings(max_examples=80, deadline=None)
@given(buyer=ALL_TEXT.filter(bool))
def test_tokens_round_trip_for_any_buyer_id(buyer: str) -> None:
    secret = "s" * 32
    try:
        token = tokens.issue(secret, buyer, 60)
    except (UnicodeEncodeError, TypeError):  # orjson refuses lone surrogates
        return
    assert tokens.verify(secret, token).sub == buyer
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(tokens.TokenError):
        tokens.verify(secret, forged)


@hypothesis_settings(max_examples=120, deadline=None)
@given(value=ALL_TEXT)
def test_id_hash_is_keyed_hmac_sha256(value: str) -> None:
    keys = pii.PiiKeys.derive("k" * 32)
    try:
        raw = value.encode()
    except UnicodeEncodeError:
        return
    expected = hmac.digest(keys._hash_key, raw, hashlib.sha256).hex()
    assert pii.id_hash(value, keys) == expected
    assert pii.id_hash(value, keys) == expected
