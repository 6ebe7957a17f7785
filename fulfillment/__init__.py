"""Fulfillment: ships every paid order exactly once.

Consumes paid orders from Kafka, allocates the physical item (an ICCID for a SIM card or plan,
an IMEI of the ordered variant for a handset) and the chosen or an assigned phone number,
checks the allocation against the order's offer snapshot, books a carrier under a per-order
idempotency key, records the shipment and gift activations in PostgreSQL and publishes shipment
events. See :mod:`fulfillment.worker` for the loop and :mod:`fulfillment.errors` for the
exception tree.
"""

from fulfillment.carrier import Booking, Carrier, CarrierConfig, Parcel, SimulatedCarrier, Tracking
from fulfillment.deadletters import DeadLetterNotFound, dead_letters, requeue
from fulfillment.stock import seed_stock, stock_levels
from fulfillment.tracking import overdue, track_once, tracking
from fulfillment.worker import FulfillConfig, Fulfiller

__all__ = [
    "Booking",
    "Carrier",
    "CarrierConfig",
    "DeadLetterNotFound",
    "FulfillConfig",
    "Fulfiller",
    "Parcel",
    "SimulatedCarrier",
    "Tracking",
    "dead_letters",
    "overdue",
    "requeue",
    "seed_stock",
    "stock_levels",
    "track_once",
    "tracking",
]
