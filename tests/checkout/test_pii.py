from __future__ import annotations

import base64

import pytest

from checkout import pii
from checkout.pii import DecryptError, PiiKeys, decrypt, encrypt, id_hash, protect
from flashsale.core.settings import Secret

ID = "11010519491231002X"
KEY = Secret("test-pii-key-0123456789")


def test_hash_stable_and_key_dependent() -> None:
    first = id_hash(ID, KEY)
    assert first == id_hash(ID, Secret("test-pii-key-0123456789"))
    assert first == id_hash(ID, PiiKeys.derive(KEY))
    assert len(first) == 64
    assert first != id_hash(ID, Secret("another-key"))
    assert first != id_hash("110105194912310029", KEY)
    assert ID not in first


def test_round_trip_and_random_nonce() -> None:
    a, b = encrypt(ID, KEY), encrypt(ID, KEY)
    assert a != b
    assert a.startswith("v1.")
    assert ID not in a
    assert decrypt(a, KEY) == ID
    assert decrypt(b, KEY) == ID


def test_tampered_ciphertext_refused() -> None:
    token = encrypt(ID, KEY)
    raw = bytearray(base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4)))
    for i in range(len(raw)):
        changed = bytearray(raw)
        changed[i] ^= 0x01
        forged = "v1." + base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
        with pytest.raises(DecryptError):
            decrypt(forged, KEY)


@pytest.mark.parametrize("bad", ["", "v1.", "v1.abc", "v2." + "A" * 60, "v1.!!!!", "nodot"])
def test_malformed_ciphertext_refused(bad: str) -> None:
    with pytest.raises(DecryptError) as caught:
        decrypt(bad, KEY)
    assert caught.value.code == "pii_decrypt_failed"


def test_wrong_key_refused() -> None:
    with pytest.raises(DecryptError):
        decrypt(encrypt(ID, KEY), Secret("another-key"))


def test_empty_key_refused() -> None:
    with pytest.raises(pii.PiiError):
        PiiKeys.derive(Secret(""))


def test_reprs_never_show_keys() -> None:
    keys = PiiKeys.derive(KEY)
    secret = KEY.reveal()
    for shown in (repr(keys), str(keys), repr(KEY), str(KEY), f"{keys}"):
        assert secret not in shown
        assert keys._hash_key.hex() not in shown
    assert not hasattr(keys, "__dict__")


def test_protect_bundle() -> None:
    protected = protect(ID, KEY)
    assert protected.hash == id_hash(ID, KEY)
    assert protected.masked == "110105********002X"
    assert decrypt(protected.encrypted, KEY) == ID
    assert ID not in repr(protected.as_dict())
