"""Free text from shoppers and marketers: the one rule every text field goes through.

Whatever the edge accepts must be storable by every sink: PostgreSQL ``text`` and ``jsonb``
(no NUL, valid UTF-8), Kafka and the outbox (bytes, fine), orjson (no lone surrogates) and one
JSON log line per event. :func:`clean` therefore, in this order:

1. refuses anything that is not a ``str``;
2. normalises to NFC and strips surrounding whitespace (so limits, hashes and idempotency
   fingerprints all see the one canonical form);
3. refuses, naming the field:

   * control characters (category ``Cc``: NUL, C0, DEL, C1) — except tab, line feed and
     carriage return in fields that allow several lines (agreement text);
   * line and paragraph separators (U+2028, U+2029) in single-line fields;
   * lone surrogates (``Cs``): not Unicode scalar values, no UTF-8 form;
   * unassigned code points (``Cn``) in this Python's Unicode database, which include the
     noncharacters U+FDD0..U+FDEF and U+xxFFFE/U+xxFFFF of every plane: they are no text a
     person can type today, and refusing them keeps NFC stable across Unicode versions;

4. bounds the length both in characters (code points, as JSON Schema ``maxLength`` counts)
   and in UTF-8 bytes.

Kept on purpose: private-use characters (``Co``: rare CJK name characters are encoded there by
some ID systems), format characters (``Cf``: RTL/LTR marks in names, ZWJ in emoji sequences),
emoji and every assigned letter, mark, number, punctuation, symbol and space.

Exceptions::

    ValueError
    └── TextError       code="invalid_request", .field, .reason: type | control | line_break |
                        surrogate | unassigned | too_short | too_long
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "ADDRESS",
    "AGREEMENT_TEXT",
    "AGREEMENT_VERSION",
    "REAL_NAME",
    "TextError",
    "TextRule",
    "clean",
]

_MULTILINE_OK = frozenset("\t\n\r")
_LINE_BREAKS = frozenset("\u2028\u2029")
# ASCII fast path: C0 controls and DEL (tab/newline/CR handled by the caller's rule).
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_CONTROL_NOT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# NFC can shorten a string (composition) by a small factor; anything longer than this many
# code points per allowed byte cannot end up within the byte limit, and is refused unread.
_SHRINK = 8


class TextError(ValueError):
    """A text field that no sink could store as given (or that breaks a length rule)."""

    code = "invalid_request"

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class TextRule:
    """What one field accepts: ``min_chars``..``max_chars`` code points (after NFC and strip),
    at most ``max_bytes`` in UTF-8, on one line unless ``multiline``."""

    field: str
    min_chars: int
    max_chars: int
    max_bytes: int
    multiline: bool = False

    def clean(self, value: object) -> str:
        return clean(value, self)


# Shopper fields of the buy request, and the agreement version marketers set and shoppers echo.
REAL_NAME = TextRule("real_name", 1, 40, 120)
ADDRESS = TextRule("address", 4, 200, 600)
AGREEMENT_VERSION = TextRule("agreement_version", 1, 64, 128)
AGREEMENT_TEXT = TextRule("agreement_text", 0, 100_000, 400_000, multiline=True)


def clean(value: object, rule: TextRule) -> str:
    """``value`` in NFC, stripped, checked against ``rule``; or :class:`TextError`."""
    name = rule.field
    if not isinstance(value, str):
        raise TextError(name, "type", f"{name} must be a string")
    if len(value) > rule.max_bytes * _SHRINK:
        raise TextError(name, "too_long", f"{name} is longer than {rule.max_chars} characters")
    _check_characters(value, rule)  # before NFC: normalising a lone surrogate is undefined
    text = unicodedata.normalize("NFC", value).strip()
    if not unicodedata.is_normalized("NFC", text):  # stripping next to a combining mark
        text = unicodedata.normalize("NFC", text)
    if len(text) < rule.min_chars:
        what = "must not be empty" if rule.min_chars == 1 else "is too short"
        raise TextError(name, "too_short", f"{name} {what} (at least {rule.min_chars} characters)")
    if len(text) > rule.max_chars:
        raise TextError(name, "too_long", f"{name} is longer than {rule.max_chars} characters")
    if len(text.encode()) > rule.max_bytes:
        raise TextError(name, "too_long", f"{name} is longer than {rule.max_bytes} bytes (UTF-8)")
    return text


def _check_characters(value: str, rule: TextRule) -> None:
    name = rule.field
    if value.isascii():
        pattern = _ASCII_CONTROL_NOT_LINES if rule.multiline else _ASCII_CONTROL
        if pattern.search(value):
            raise TextError(name, "control", f"{name} must not contain control characters")
        return
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cc":
            if not (rule.multiline and ch in _MULTILINE_OK):
                raise TextError(name, "control", f"{name} must not contain control characters")
        elif category == "Cs":
            raise TextError(name, "surrogate", f"{name} must be valid Unicode (lone surrogate)")
        elif category == "Cn":
            raise TextError(
                name,
                "unassigned",
                f"{name} must not contain unassigned code points or noncharacters",
            )
        elif ch in _LINE_BREAKS and not rule.multiline:
            raise TextError(name, "line_break", f"{name} must be on one line")
