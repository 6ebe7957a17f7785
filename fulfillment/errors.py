"""The fulfillment exception tree (``code`` is stable; ``retriable`` drives the retry)::

FulfillmentError                 (code, retriable)
 ├── CarrierError                carrier API failures
 │    ├── CarrierTransient       retriable: 5xx, connection reset
 │    │    └── CarrierTimeout    retriable: no answer in time (the booking may exist)
 │    └── CarrierRejected        not retriable: 4xx, e.g. an undeliverable address
 ├── OutOfStock                  retriable: no free SIM card / handset / spare number yet
 └── Mismatch                    not retriable: the allocation or snapshot is not what the
                                 shopper bought; refused, never shipped
"""

from __future__ import annotations

from flashsale.core.errors import FlashsaleError


class FulfillmentError(FlashsaleError):
    code = "fulfillment.error"


class CarrierError(FulfillmentError):
    code = "carrier.error"


class CarrierTransient(CarrierError):
    code = "carrier.unavailable"
    retriable = True


class CarrierTimeout(CarrierTransient):
    code = "carrier.timeout"


class CarrierRejected(CarrierError):
    code = "carrier.rejected"


class OutOfStock(FulfillmentError):
    code = "stock.empty"
    retriable = True


class Mismatch(FulfillmentError):
    code = "allocation.mismatch"
