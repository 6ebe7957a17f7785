"""``flashsale.core.text``: the one rule every free-text field goes through, as properties over
arbitrary Unicode (every category, surrogates included) and against an independent oracle."""

from __future__ import annotations

import unicodedata

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashsale.core import text
from tests.support.edge import nfc, storable, texts

RULES = [text.REAL_NAME, text.ADDRESS, text.AGREEMENT_VERSION, text.AGREEMENT_TEXT]


def _clean(rule: text.TextRule, value: str) -> str | text.TextError:
    try:
        return rule.clean(value)
    except text.TextError as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(rule=st.sampled_from(RULES), value=texts(120))
def test_clean_refuses_or_returns_what_every_sink_can_store(
    rule: text.TextRule, value: str
) -> None:
    ok = storable(value, rule.min_chars, rule.max_chars, rule.max_bytes, multiline=rule.multiline)
    cleaned = _clean(rule, value)
    if isinstance(cleaned, text.TextError):
        assert not ok, f"refused {value!r}: {cleaned}"
        assert cleaned.field == rule.field
        assert rule.field in cleaned.message
        assert cleaned.code == "invalid_request"
        return
    assert ok, f"accepted {value!r}"
    assert cleaned == nfc(value)
    assert unicodedata.is_normalized("NFC", cleaned)
    assert cleaned == cleaned.strip()
    assert rule.min_chars <= len(cleaned) <= rule.max_chars
    assert len(cleaned.encode("utf-8")) <= rule.max_bytes
    assert "\x00" not in cleaned
    assert orjson.loads(orjson.dumps(cleaned)) == cleaned  # JSON logs, events, jsonb
    assert rule.clean(cleaned) == cleaned  # idempotent


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text(max_size=3))))
def test_clean_refuses_non_strings(value: object) -> None:
    with pytest.raises(text.TextError) as info:
        text.REAL_NAME.clean(value)
    assert info.value.reason == "type"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("\x00a", "control"),
        ("a\x85b", "control"),
        ("a\tb", "control"),
        ("a\nb", "control"),
        ("a\u2028b", "line_break"),
        ("a\ud800b", "surrogate"),
        ("a\ufffeb", "unassigned"),
        ("a\U0010ffffb", "unassigned"),
        ("a\ufdd0b", "unassigned"),
        ("", "too_short"),
        ("   \u3000", "too_short"),
        ("a" * 41, "too_long"),
        ("\U0001f600" * 31, "too_long"),  # 31 characters but 124 bytes
        ("x" * 10_000_000, "too_long"),  # refused without normalising ten million characters
    ],
)
def test_refusal_reasons(value: str, reason: str) -> None:
    with pytest.raises(text.TextError) as info:
        text.REAL_NAME.clean(value)
    assert info.value.reason == reason
    assert info.value.field == "real_name"


@pytest.mark.parametrize(
    "value",
    [
        "\u200f\u05d3\u05d5\u05d3",  # RTL mark + Hebrew
        "\ue000\u5f20",  # private use (rare name characters) + CJK
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # ZWJ emoji sequence
        "Zo\u00eb \u00c5ngstr\u00f6m",
        "\ufeffBOM",
    ],
)
def test_legitimate_text_is_kept(value: str) -> None:
    assert text.REAL_NAME.clean(value) == unicodedata.normalize("NFC", value).strip()


def test_nfc_before_the_length_limits() -> None:
    assert text.REAL_NAME.clean("e\u0301" * 40) == "\u00e9" * 40  # 80 code points in, 40 out
    with pytest.raises(text.TextError):
        text.REAL_NAME.clean("\u0958" * 21 + "a" * 20)  # NFC expands U+0958 to two code points


def test_multiline_fields_keep_tabs_and_newlines() -> None:
    assert text.AGREEMENT_TEXT.clean("one\n\ttwo\r\nthree\u2028") == "one\n\ttwo\r\nthree"
    with pytest.raises(text.TextError):
        text.AGREEMENT_TEXT.clean("one\x00two")
    with pytest.raises(text.TextError):
        text.AGREEMENT_TEXT.clean("one\x0btwo")
