"""Catalog and round errors: each carries a stable ``code`` and structured ``data``.

::

    CatalogError (code, data, retriable=False)
    ├── CatalogNotFound         code "catalog.not_found"       unknown id or name
    ├── InvalidInput            code "catalog.invalid"         a value is malformed or out of range
    │   ├── InvalidWindow       code "round.invalid_window"    end before start, bad zone, bad time
    │   └── InvalidNumbersFile  code "numbers.invalid_file"    malformed or duplicate numbers
    ├── CatalogConflict         code "catalog.conflict"        the change clashes with stored state
    │   ├── RoundOverlap        code "round.overlap"           same offer, overlapping open round
    │   └── InvalidTransition   code "round.invalid_transition" e.g. resume a closed round
    └── RoundStateUnavailable   code "round.inventory_unavailable" (retriable) the round's state
                                in Redis could not be read or changed
"""

from __future__ import annotations

from flashsale.core.errors import FlashsaleError


class CatalogError(FlashsaleError):
    code = "catalog.error"


class CatalogNotFound(CatalogError):
    code = "catalog.not_found"


class InvalidInput(CatalogError):
    code = "catalog.invalid"


class InvalidWindow(InvalidInput):
    code = "round.invalid_window"


class InvalidNumbersFile(InvalidInput):
    code = "numbers.invalid_file"


class CatalogConflict(CatalogError):
    code = "catalog.conflict"


class RoundOverlap(CatalogConflict):
    code = "round.overlap"


class InvalidTransition(CatalogConflict):
    code = "round.invalid_transition"


class RoundStateUnavailable(CatalogError):
    code = "round.inventory_unavailable"
    retriable = True
