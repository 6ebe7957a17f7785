"""`flashsale catalog add-product|add-offer|add-variant|list|show|retire` and
`flashsale numbers load|list|show`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import catalog
from catalog import money
from catalog.connections import LazyInventory, pg
from catalog.control import push_numbers
from catalog.numbers import list_pools, show_pool
from catalog.retire import KINDS, retire
from flashsale.cli._output import CliError, emit, emit_change, emit_fields, json_option
from flashsale.cli.common import (
    INPUT_FILE,
    execute,
    input_file_option,
    localize,
    operator,
    read_text,
    settings,
    token_file_option,
    tz_option,
    zone,
)


def _gifts(data: dict[str, Any]) -> str:
    return ", ".join(
        f"{g['kind']} {g['amount']}{' ' + g['unit'] if 'unit' in g else ''}"
        for g in data.get("gifts") or []
    )


OFFER_COLUMNS = [
    "id",
    "product_id",
    "name",
    "price",
    "monthly_fee",
    "data_mb",
    "voice_minutes",
    "gifts",
    "agreement_version",
]


@click.group("catalog")
def catalog_group() -> None:
    """Products, offers (price, plan terms, gifts, agreement) and handset variants."""


@catalog_group.command("add-product")
@click.option("--kind", required=True, type=click.Choice(catalog.products.PRODUCT_KINDS))
@click.option("--name", required=True)
@click.option("--description", default="")
@token_file_option
@tz_option
@json_option
def add_product(
    kind: str,
    name: str,
    description: str,
    token_file: Path | None,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Add a product (sim_card, plan or handset).

    \b
    Examples:
      flashsale catalog add-product --kind sim_card --name "20-yuan 3G prepaid card"
      flashsale catalog add-product --kind handset --name "Special-price phone" --json
    """
    op, tz = operator(token_file), zone(tz_name)

    async def go() -> dict[str, Any]:
        async with pg(settings()) as conn:
            return await catalog.add_product(conn, op, kind, name, description)

    product = localize(execute(go()), tz)
    emit(product, as_json, columns=["id", "kind", "name", "description", "created_at"])


@catalog_group.command("add-offer")
@click.option("--product", "product_id", required=True, type=int, help="Product id.")
@click.option("--name", required=True)
@click.option("--price", required=True, help="Price in yuan, e.g. 20 or 19.90.")
@click.option("--monthly-fee", default="0", help="Monthly fee in yuan (plans).")
@click.option("--data", "data", default=None, help="Monthly data allowance, e.g. 500MB, 1GB.")
@click.option("--voice", "voice", type=int, default=None, help="Monthly voice minutes.")
@click.option(
    "--gift",
    "gifts",
    multiple=True,
    help="A bundled gift: data=1 GB, credit=1000 (yuan), voice=100, item=NAME. Repeat.",
)
@click.option("--gifts-json", default=None, help='Gifts as JSON: [{"kind":"data","amount":"1 GB"}]')
@click.option("--agreement-version", required=True, help="Version of the service agreement.")
@click.option("--agreement", "agreement_text", default="", help="Agreement text.")
@input_file_option("--agreement-file", "Read the agreement text from a file.")
@token_file_option
@tz_option
@json_option
def add_offer(
    product_id: int,
    name: str,
    price: str,
    monthly_fee: str,
    data: str | None,
    voice: int | None,
    gifts: tuple[str, ...],
    gifts_json: str | None,
    agreement_version: str,
    agreement_text: str,
    agreement_file: Path | None,
    token_file: Path | None,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Add an offer of a product: the exact terms a shopper accepts.

    \b
    Examples:
      flashsale catalog add-offer --product 1 --name "Fei Young card" --price 20 \\
          --data 1GB --gift "data=1 GB" --gift credit=1000 --agreement-version v3
      flashsale catalog add-offer --product 2 --name "Plan 96" --price 0 --monthly-fee 96 \\
          --voice 300 --agreement-file plan96.txt --agreement-version 2026-05 --json
    """
    op, tz = operator(token_file), zone(tz_name)
    if agreement_file is not None:
        agreement_text = read_text(agreement_file, "agreement file")
    try:
        parsed_gifts = [money.parse_gift(g) for g in gifts]
        if gifts_json is not None:
            parsed_gifts += money.parse_gifts_json(gifts_json)
        terms = catalog.OfferTerms(
            product_id=product_id,
            name=name,
            price_fen=money.parse_yuan(price),
            monthly_fee_fen=money.parse_yuan(monthly_fee, "monthly fee"),
            data_mb=None if data is None else money.parse_data(data),
            voice_minutes=voice,
            gifts=parsed_gifts,
            agreement_text=agreement_text,
            agreement_version=agreement_version,
        )
    except catalog.CatalogError as exc:
        raise CliError(exc.message) from None
    if voice is not None and voice < 0:
        raise CliError("voice minutes must not be negative")

    async def go() -> dict[str, Any]:
        async with pg(settings()) as conn:
            return await catalog.add_offer(conn, op, terms)

    offer = localize(execute(go()), tz)
    emit(offer, as_json, rows=[offer | {"gifts": _gifts(offer)}], columns=OFFER_COLUMNS)


@catalog_group.command("add-variant")
@click.option("--product", "product_id", required=True, type=int, help="Handset product id.")
@click.option("--sku", required=True)
@click.option("--colour", default="")
@click.option("--storage", default="", help="e.g. 128GB")
@click.option("--offer", "offer_id", type=int, default=None, help="Tie to one offer only.")
@token_file_option
@tz_option
@json_option
def add_variant(
    product_id: int,
    sku: str,
    colour: str,
    storage: str,
    offer_id: int | None,
    token_file: Path | None,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Add a handset variant (colour/storage, SKU).

    \b
    Examples:
      flashsale catalog add-variant --product 3 --sku X1-BLK-128 --colour black --storage 128GB
    """
    op, tz = operator(token_file), zone(tz_name)

    async def go() -> dict[str, Any]:
        async with pg(settings()) as conn:
            return await catalog.add_variant(conn, op, product_id, sku, colour, storage, offer_id)

    emit(
        localize(execute(go()), tz),
        as_json,
        columns=["id", "product_id", "offer_id", "sku", "colour", "storage"],
    )


@catalog_group.command("list")
@click.option("--kind", type=click.Choice(catalog.products.PRODUCT_KINDS), default=None)
@json_option
def list_(kind: str | None, as_json: bool) -> None:
    """Products and their offers.

    \b
    Examples:
      flashsale catalog list
      flashsale catalog list --kind handset --json
    """

    async def go() -> list[dict[str, Any]]:
        async with pg(settings()) as conn:
            return await catalog.list_catalog(conn, kind)

    rows = execute(go())
    emit(
        rows,
        as_json,
        columns=[
            "product_id",
            "kind",
            "product",
            "offer_id",
            "offer",
            "price",
            "monthly_fee",
            "agreement_version",
            "variants",
            "retired",
        ],
        title="catalog",
    )


@catalog_group.command("show")
@click.argument("what", type=click.Choice(["product", "offer"]))
@click.argument("ident", type=int)
@tz_option
@json_option
def show(what: str, ident: int, tz_name: str | None, as_json: bool) -> None:
    """Show one product (with offers and variants) or one offer (with its agreement).

    \b
    Examples:
      flashsale catalog show product 1
      flashsale catalog show offer 2 --json
    """
    tz = zone(tz_name)

    async def go() -> dict[str, Any]:
        async with pg(settings()) as conn:
            if what == "product":
                return await catalog.products.show_product(conn, ident)
            return await catalog.get_offer(conn, ident)

    data = localize(execute(go()), tz)
    if as_json:
        emit(data, True)
    elif what == "product":
        emit(data, False, columns=["id", "kind", "name", "description", "created_at"])
        if data["offers"]:
            emit(
                data["offers"],
                False,
                rows=[o | {"gifts": _gifts(o)} for o in data["offers"]],
                columns=OFFER_COLUMNS,
                title="offers",
            )
        if data["variants"]:
            emit(
                data["variants"],
                False,
                columns=["id", "sku", "colour", "storage", "offer_id"],
                title="variants",
            )
    else:
        emit(
            data,
            False,
            rows=[data | {"gifts": _gifts(data)}],
            columns=[*OFFER_COLUMNS, "product_name"],
        )
        if data.get("agreement_text"):
            click.echo(f"\nAgreement {data['agreement_version']}:\n{data['agreement_text']}")


@catalog_group.command("retire")
@click.argument("what", type=click.Choice(KINDS))
@click.argument("ident", type=int)
@token_file_option
@tz_option
@json_option
def retire_cmd(
    what: str, ident: int, token_file: Path | None, tz_name: str | None, as_json: bool
) -> None:
    """Retire a product (and its offers) or one offer: no new offers or rounds from it; what
    was sold stays. Refused while one of its rounds is open. Audited; safe to repeat.

    \b
    Examples:
      flashsale catalog retire offer 2
      flashsale catalog retire product 1 --json
    """
    op, tz = operator(token_file), zone(tz_name)

    async def go() -> dict[str, Any]:
        async with pg(settings()) as conn:
            return await retire(conn, op, what, ident)

    out = localize(execute(go()), tz)
    emit_change(out, as_json, f"{what} {ident}", "retired", "already retired")


@click.group("numbers")
def numbers_group() -> None:
    """Phone-number pools for number choice."""


@numbers_group.command("load")
@click.argument("pool")
@click.argument("path", type=INPUT_FILE)
@token_file_option
@json_option
def numbers_load(pool: str, path: Path, token_file: Path | None, as_json: bool) -> None:
    """Load numbers into POOL (created if new) from PATH (UTF-8, a BOM is fine): one 11-digit
    mainland mobile number per line (spaces, dashes and a leading +86 are dropped), optionally
    `,SURCHARGE` in yuan for a lucky number. A malformed or duplicate number (in the file or
    already loaded) refuses the whole file.

    \b
    Examples:
      flashsale numbers load may-drop numbers.txt
      printf '13800138000\\n13888888888,88\\n' > n.txt && flashsale numbers load lucky n.txt --json
    """
    op = operator(token_file)
    try:
        parsed = catalog.parse_numbers_file(read_text(path, "numbers file"))
    except catalog.CatalogError as exc:
        raise CliError(exc.message, code=exc.code) from None

    async def go() -> dict[str, Any]:
        cfg = settings()
        async with pg(cfg) as conn:
            result = await catalog.load_pool(conn, op, pool, parsed)
            inv = LazyInventory(cfg)
            try:
                pairs = [(n.number, n.surcharge_fen) for n in parsed]
                result["rounds_updated"] = await push_numbers(conn, inv, pool, pairs)
            except (catalog.CatalogError, ConnectionError) as exc:
                click.echo(
                    f"warning: numbers loaded but not yet in Redis ({exc}); "
                    "`flashsale round arm ROUND` loads them",
                    err=True,
                )
            finally:
                await inv.aclose()
            return result

    result = execute(go())
    emit(result, as_json, columns=["pool", "added", "lucky", "total"])


@numbers_group.command("list")
@tz_option
@json_option
def numbers_list(tz_name: str | None, as_json: bool) -> None:
    """Number pools: how many numbers, how many lucky ones, the rounds selling from each.

    \b
    Examples:
      flashsale numbers list
      flashsale numbers list --json
    """
    tz = zone(tz_name)

    async def go() -> list[dict[str, Any]]:
        async with pg(settings()) as conn:
            return await list_pools(conn)

    pools = localize(execute(go()), tz)
    emit(
        pools,
        as_json,
        rows=[p | {"rounds": ",".join(p["rounds"])} for p in pools],
        columns=["pool", "numbers", "lucky", "rounds", "created_at"],
        title="number pools",
    )


@numbers_group.command("show")
@click.argument("pool")
@click.option(
    "--limit", type=click.IntRange(0, 100_000), default=100, show_default=True,
    help="Numbers listed (in order); the figures count them all.",
)  # fmt: skip
@tz_option
@json_option
def numbers_show(pool: str, limit: int, tz_name: str | None, as_json: bool) -> None:
    """One pool: its figures, then its numbers with their surcharge in yuan.

    \b
    Examples:
      flashsale numbers show lucky
      flashsale numbers show may-drop --limit 10 --json
    """
    tz = zone(tz_name)

    async def go() -> dict[str, Any]:
        async with pg(settings()) as conn:
            return await show_pool(conn, pool, limit)

    data = localize(execute(go()), tz)
    if as_json:
        emit(data, True)
        return
    figures = {k: v for k, v in data.items() if k != "shown"} | {"rounds": ",".join(data["rounds"])}
    emit_fields(figures, False, title=f"number pool {data['pool']}")
    emit(data["shown"], False, columns=["number", "surcharge"], title=f"first {limit} numbers")
