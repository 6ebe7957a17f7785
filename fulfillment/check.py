"""The snapshot check: does the parcel hold exactly what the shopper bought?

A pure function of the offer snapshot kept with the order, the quantity and chosen number, the
allocated items (the manifest) and the handset models' type allocation codes. It returns the
problems found; any problem refuses the shipment ("the plan delivered differs from the plan
chosen" is the complaint this prevents).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checkout.offer import LINE_GIFTS, OfferSnapshot, SnapshotError
from fulfillment.identifiers import iccid_valid, imei_valid


@dataclass(frozen=True)
class Problem:
    code: str
    reason: str
    item: str | None = None  # the ICCID / IMEI at fault, if one is


def parse_snapshot(offer: OfferSnapshot | Mapping[str, Any]) -> OfferSnapshot | Problem:
    """The typed snapshot, or the problem that keeps the stored one from being one."""
    if isinstance(offer, OfferSnapshot):
        return offer
    try:
        return OfferSnapshot.from_dict(offer)
    except SnapshotError as exc:
        return Problem(exc.code, exc.reason)


def snapshot_problems(offer: OfferSnapshot | Mapping[str, Any]) -> list[Problem]:
    """Problems with the snapshot itself (nothing can be allocated against it)."""
    snap = parse_snapshot(offer)
    if isinstance(snap, Problem):
        return [snap]
    out: list[Problem] = []
    if snap.product_kind == "handset" and not snap.sku:
        out.append(Problem("snapshot.variant", "handset offer snapshot names no variant"))
    if snap.product_kind == "plan" and (snap.monthly_fee_fen is None or not snap.agreement_version):
        out.append(Problem("snapshot.plan", "plan snapshot lacks its monthly fee or agreement"))
    for i, g in enumerate(snap.gifts):
        if g.kind in LINE_GIFTS and snap.product_kind == "handset":
            out.append(
                Problem(
                    "gift.no_line",
                    f"gift #{i} ({g.kind}) needs a phone line; a handset has none",
                )
            )
    return out


def manifest_problems(
    offer: OfferSnapshot | Mapping[str, Any],
    quantity: int,
    chosen: str | None,
    items: list[dict[str, Any]],
    tacs: dict[str, set[str]],
) -> list[Problem]:
    """Problems with the allocated items against the snapshot."""
    snap = parse_snapshot(offer)
    if isinstance(snap, Problem):
        return [snap]
    kind = snap.product_kind
    out: list[Problem] = []
    if len(items) != quantity:
        out.append(Problem("allocation.count", f"{len(items)} item(s) for quantity {quantity}"))
    for it in items:
        if kind == "handset":
            sku = snap.sku
            imei = it.get("imei") or ""
            if it.get("kind") != "handset":
                out.append(Problem("allocation.kind", f"a {it.get('kind')} in a handset order"))
            elif not imei_valid(imei):
                out.append(Problem("allocation.imei", f"IMEI {imei} fails its check", imei))
            elif it.get("sku") != sku:
                out.append(
                    Problem(
                        "allocation.variant",
                        f"handset {imei} is {it.get('sku')}, ordered {sku}",
                        imei,
                    )
                )
            elif imei[:8] not in tacs.get(sku or "", set()):
                out.append(
                    Problem(
                        "allocation.variant",
                        f"IMEI {imei} is not a {sku} (type code {imei[:8]})",
                        imei,
                    )
                )
        else:
            iccid = it.get("iccid") or ""
            if it.get("kind") != "sim":
                out.append(Problem("allocation.kind", f"a {it.get('kind')} in a {kind} order"))
            elif not iccid_valid(iccid):
                out.append(Problem("allocation.iccid", f"ICCID {iccid} fails its check", iccid))
            elif not it.get("number"):
                out.append(Problem("allocation.number", f"SIM {iccid} has no number", iccid))
    if chosen and kind != "handset":
        first = next((it for it in items if it.get("unit") == 1), {})
        if first.get("number") != chosen:
            out.append(
                Problem(
                    "allocation.number",
                    f"chosen number {chosen} not on the card ({first.get('number')})",
                )
            )
    return out
