"""ICCID / IMEI generation and Luhn validity; the snapshot check as a pure function."""

from __future__ import annotations

import random

import pytest

from fulfillment.check import manifest_problems, snapshot_problems
from fulfillment.identifiers import (
    iccid_valid,
    imei_valid,
    luhn_digit,
    luhn_valid,
    make_iccid,
    make_imei,
    make_number,
)
from tests.support.offer import handset_offer, sim_offer, snapshot


def test_luhn_known_values() -> None:
    assert luhn_valid("79927398713")  # the textbook example
    assert luhn_valid("490154203237518")  # a published sample IMEI
    assert not luhn_valid("490154203237517")
    assert luhn_digit("7992739871") == "3"


def test_generated_identifiers_are_valid() -> None:
    rng = random.Random(1)
    for _ in range(500):
        iccid = make_iccid(rng, rng.choice((19, 20)))
        assert iccid.startswith("8986")
        assert len(iccid) in (19, 20)
        assert iccid_valid(iccid)
        imei = make_imei(rng, "35123456")
        assert imei_valid(imei)
        assert imei.startswith("35123456")
        # any single-digit change breaks the check digit
        i = rng.randrange(15)
        bad = imei[:i] + str((int(imei[i]) + 1) % 10) + imei[i + 1 :]
        assert not imei_valid(bad)
        number = make_number(rng)
        assert len(number) == 11
        assert number.startswith("170")
    assert not iccid_valid("8944" + make_iccid(rng)[4:])  # not a Chinese ICCID
    with pytest.raises(ValueError, match="19 or 20"):
        make_iccid(rng, 18)


def test_snapshot_check() -> None:
    assert snapshot_problems(sim_offer()) == []
    assert snapshot_problems(handset_offer("px")) == []
    assert [p.code for p in snapshot_problems({"sku": "sim-20"})] == ["snapshot.kind"]
    no_variant = {**handset_offer("px"), "variant": None}
    assert [p.code for p in snapshot_problems(no_variant)] == ["snapshot.variant"]
    gift_on_handset = handset_offer("px", [{"kind": "credit", "amount": 100}])
    assert [p.code for p in snapshot_problems(gift_on_handset)] == ["gift.no_line"]
    assert [p.code for p in snapshot_problems(snapshot(gifts=["1GB"]))] == ["snapshot.gifts"]
    plan = {**sim_offer(), "product_kind": "plan", "monthly_fee_fen": None}
    assert [p.code for p in snapshot_problems(plan)] == ["snapshot.plan"]


def test_manifest_check() -> None:
    rng = random.Random(2)
    iccid = make_iccid(rng)
    good = [{"kind": "sim", "unit": 1, "iccid": iccid, "number": "13900000001"}]
    assert manifest_problems(sim_offer(), 1, "13900000001", good, {}) == []
    assert [p.code for p in manifest_problems(sim_offer(), 1, "13900000002", good, {})] == [
        "allocation.number"
    ]
    assert [p.code for p in manifest_problems(sim_offer(), 2, None, good, {})] == [
        "allocation.count"
    ]
    imei = make_imei(rng, "35000001")
    phone = [{"kind": "handset", "unit": 1, "imei": imei, "sku": "px"}]
    offer = handset_offer("px")
    assert manifest_problems(offer, 1, None, phone, {"px": {"35000001"}}) == []
    wrong = manifest_problems(offer, 1, None, phone, {"px": {"35999999"}})
    assert [(p.code, p.item) for p in wrong] == [("allocation.variant", imei)]
    assert [p.code for p in manifest_problems(offer, 1, None, good, {})] == ["allocation.kind"]
