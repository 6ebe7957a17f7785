"""The catalog (products, offers, variants, number pools) and sale rounds, in PostgreSQL.

Public surface: the repository functions below, the domain errors (see :mod:`.errors`) and
:func:`run_armer`, the loop that loads rounds into Redis shortly before they start.
"""

from __future__ import annotations

from catalog.armer import arm_due, run_armer
from catalog.control import (
    InventoryPort,
    Outcome,
    arm,
    close,
    extend,
    go_live,
    pause,
    restock,
    resume,
)
from catalog.errors import (
    CatalogConflict,
    CatalogError,
    CatalogNotFound,
    InvalidInput,
    InvalidNumbersFile,
    InvalidTransition,
    InvalidWindow,
    RoundOverlap,
    RoundStateUnavailable,
)
from catalog.numbers import PoolNumber, load_pool, parse_numbers_file
from catalog.products import (
    OfferTerms,
    add_offer,
    add_product,
    add_variant,
    get_offer,
    list_catalog,
)
from catalog.report import round_report
from catalog.rounds import RoundInput, build_spec, create_round, get_round, list_rounds

__all__ = [
    "CatalogConflict",
    "CatalogError",
    "CatalogNotFound",
    "InvalidInput",
    "InvalidNumbersFile",
    "InvalidTransition",
    "InvalidWindow",
    "InventoryPort",
    "OfferTerms",
    "Outcome",
    "PoolNumber",
    "RoundInput",
    "RoundOverlap",
    "RoundStateUnavailable",
    "add_offer",
    "add_product",
    "add_variant",
    "arm",
    "arm_due",
    "build_spec",
    "close",
    "create_round",
    "extend",
    "get_offer",
    "get_round",
    "go_live",
    "list_catalog",
    "list_rounds",
    "load_pool",
    "parse_numbers_file",
    "pause",
    "restock",
    "resume",
    "round_report",
    "run_armer",
]
