"""THE table of refusal codes: every "no" a reservation (or a late payment's re-take) can answer.

One row per code a Lua script returns (``ReserveResult.code``): whether a later retry may
succeed unchanged (``retriable``), whether it is stored as the (buyer, Idempotency-Key)'s
outcome (``stored``; a stored refusal is replayed, an unstored one is evaluated again on a
retry), what the HTTP API answers (``answer`` code and ``status``), the API's ``message`` and
the storefront's short ``headline``.

Everything else is generated from or imports this table: the Lua codes (the table ``R``
that :mod:`inventory.scripts` prepends to every script, so a script can only name codes that
exist: ``R.sold_out``; any other name raises), the
API's status and message (``flashsale.front``), the OpenAPI enum (:data:`ANSWER_CODES`), the
storefront's wording (served as ``/static/refusals.js``) and the load tests' counters.

Wording is English. A translation is one more ``{code: Wording}`` dict in :data:`TRANSLATIONS`
under its language tag; :func:`wording` falls back to English for codes it does not cover.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class RefusalCode(StrEnum):
    NOT_ARMED = "not_armed"
    PAUSED = "paused"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    AGREEMENT_OUTDATED = "agreement_outdated"
    INVALID_REQUEST = "invalid_request"
    IDEMPOTENCY_MISMATCH = "idempotency_mismatch"
    LIMIT_REACHED = "limit_reached"
    NUMBER_CHOICE_DISABLED = "number_choice_disabled"
    NUMBER_TAKEN = "number_taken"
    NUMBER_UNKNOWN = "number_unknown"
    SOLD_OUT = "sold_out"


@dataclass(frozen=True, slots=True)
class Wording:
    #: The API's ``error.message``.
    message: str
    #: The storefront's headline over the message (None: the page's generic one).
    headline: str | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    code: RefusalCode
    #: The HTTP status of the API's answer.
    status: int
    #: A later retry of the same call may succeed (the round opens, units come back, ...).
    retriable: bool
    #: Stored as the Idempotency-Key's outcome: a retry with that key replays it.
    stored: bool
    #: The English wording.
    en: Wording
    #: The code the API answers with, when it is not ``code`` itself.
    answer_as: str | None = None

    @property
    def answer(self) -> str:
        """The API's ``error.code``."""
        return self.answer_as or self.code.value

    @property
    def message(self) -> str:
        return self.en.message


_C = RefusalCode

# fmt: off
_ROWS = (
    # Gates: the round's state and the request's own fields. Never stored.
    Refusal(_C.NOT_ARMED, 404, retriable=True, stored=False,
            en=Wording("no such round"), answer_as="not_found"),
    Refusal(_C.PAUSED, 409, retriable=True, stored=False,
            en=Wording("the sale is paused; try again shortly", "Paused")),
    Refusal(_C.NOT_STARTED, 409, retriable=True, stored=False,
            en=Wording("the sale has not started yet", "Not started yet")),
    Refusal(_C.ENDED, 409, retriable=False, stored=False,
            en=Wording("the sale has ended", "This drop has ended")),
    Refusal(_C.CHANNEL_NOT_ALLOWED, 403, retriable=False, stored=False,
            en=Wording("this round is not sold on that channel", "Not sold on this channel")),
    Refusal(_C.AGREEMENT_OUTDATED, 409, retriable=False, stored=False,
            en=Wording("accept the current agreement version first", "Agreement changed")),
    Refusal(_C.INVALID_REQUEST, 400, retriable=False, stored=False,
            en=Wording("invalid request", "Please check the form")),
    # The key was used for another request: answered from the stored outcome, never stored.
    Refusal(_C.IDEMPOTENCY_MISMATCH, 422, retriable=False, stored=False,
            en=Wording("this Idempotency-Key was used for a different request")),
    # This buyer's or this number's state: stored, a retry with the same key replays it.
    Refusal(_C.LIMIT_REACHED, 409, retriable=False, stored=True,
            en=Wording("purchase limit reached for this account or ID number", "Limit reached")),
    Refusal(_C.NUMBER_CHOICE_DISABLED, 400, retriable=False, stored=True,
            en=Wording("this round does not offer number choice", "No number choice")),
    Refusal(_C.NUMBER_TAKEN, 409, retriable=False, stored=True,
            en=Wording("that phone number is already taken", "Number taken")),
    # Shoppers are told "taken" either way; the message says which.
    Refusal(_C.NUMBER_UNKNOWN, 409, retriable=False, stored=True,
            en=Wording("that phone number is not offered in this round", "Number taken"),
            answer_as="number_taken"),
    # Transient like paused: units come back (expiry, cancellation, restock). Never stored.
    Refusal(_C.SOLD_OUT, 409, retriable=True, stored=False,
            en=Wording("sold out", "Sold out")),
)
# fmt: on

REFUSALS: Mapping[str, Refusal] = {r.code.value: r for r in _ROWS}

#: Every refusal code a script may return.
CODES: tuple[str, ...] = tuple(REFUSALS)
#: The error codes the API answers refusals with (the OpenAPI enum of a refused reservation).
ANSWER_CODES: tuple[str, ...] = tuple(dict.fromkeys(r.answer for r in REFUSALS.values()))

#: Translations: language tag -> {code: Wording}. English is the table itself.
TRANSLATIONS: Mapping[str, Mapping[str, Wording]] = {}


def refusal(code: str) -> Refusal | None:
    return REFUSALS.get(code)


def retriable(code: str) -> bool:
    """Whether a refusal ``code`` may go away on a later retry (unknown codes: no)."""
    r = REFUSALS.get(code)
    return r.retriable if r is not None else False


def wording(code: str, lang: str = "en") -> Wording:
    """The wording of ``code`` in ``lang`` (English where no translation covers it)."""
    found = TRANSLATIONS.get(lang, {}).get(code)
    return found if found is not None else REFUSALS[code].en


def storefront_table(lang: str = "en") -> dict[str, dict[str, str]]:
    """``{answer code: {"headline", "message"}}`` for the page (an answer code's first row)."""
    out: dict[str, dict[str, str]] = {}
    for r in REFUSALS.values():
        w = wording(r.code, lang)
        if w.headline is not None and r.answer not in out:
            out[r.answer] = {"headline": w.headline, "message": w.message}
    return out
