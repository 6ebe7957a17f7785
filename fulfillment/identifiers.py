"""Physical identifiers: ICCIDs (SIM cards) and IMEIs (handsets), both with a Luhn check digit.

An ICCID here is ``89`` (telecom) ``86`` (China) + issuer/serial digits + a Luhn digit, 19 or 20
digits in all. An IMEI is an 8-digit type allocation code (TAC, the model) + a 6-digit serial +
a Luhn digit, 15 digits.
"""

from __future__ import annotations

import random

ICCID_PREFIX = "8986"


def luhn_digit(payload: str) -> str:
    """The Luhn check digit to append to ``payload`` (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # the rightmost payload digit is doubled (it sits left of the check digit)
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_digit(number[:-1]) == number[-1]


def iccid_valid(iccid: str) -> bool:
    return iccid.startswith(ICCID_PREFIX) and len(iccid) in (19, 20) and luhn_valid(iccid)


def imei_valid(imei: str) -> bool:
    return len(imei) == 15 and luhn_valid(imei)


def make_iccid(rng: random.Random, length: int = 20) -> str:
    if length not in (19, 20):
        raise ValueError("an ICCID has 19 or 20 digits")
    body = ICCID_PREFIX + "".join(rng.choice("0123456789") for _ in range(length - 5))
    return body + luhn_digit(body)


def make_imei(rng: random.Random, tac: str) -> str:
    if len(tac) != 8 or not tac.isdigit():
        raise ValueError("a TAC has 8 digits")
    body = tac + "".join(rng.choice("0123456789") for _ in range(6))
    return body + luhn_digit(body)


def make_tac(rng: random.Random) -> str:
    return "35" + "".join(rng.choice("0123456789") for _ in range(6))


def make_number(rng: random.Random, prefix: str = "170") -> str:
    """A mainland mobile number (``1[3-9]`` + 9 digits) in the given prefix range."""
    return prefix + "".join(rng.choice("0123456789") for _ in range(11 - len(prefix)))
