"""The storefront's language: negotiated per request, the page rendered in it, and the wording
its scripts read.

:func:`negotiate` picks ``zh-CN`` or ``en``: the shopper's own choice (the ``fs_lang`` cookie the
page's language switch sets) first, then ``Accept-Language``, else ``zh-CN``. :func:`render` fills
the page's ``{{key}}`` texts from :data:`~flashsale.front.pages.messages.MESSAGES` (HTML-escaped)
and sets ``<html lang>``; :func:`texts_script` (``/static/i18n.js``) and :func:`refusals_script`
(``/static/refusals.js``, from :func:`inventory.refusals.storefront_table`) give its scripts the
texts and the API's error wording in both languages.
"""

from __future__ import annotations

import html
import re

import orjson

from flashsale.front.pages.messages import DEFAULT_LANGUAGE, MESSAGES
from inventory.refusals import LANGUAGES, storefront_table

COOKIE = "fs_lang"
_PLACEHOLDER = re.compile(r"\{\{([a-z0-9_.]+)\}\}")
_MAX_HEADER = 512  # longer Accept-Language values are read up to here
_PRIMARY = {"zh": "zh-CN", "en": "en"}


class MissingText(KeyError):
    """The page names a text that has no wording in some language."""


def _weight(params: list[str]) -> float:
    for p in params:
        name, _, value = p.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def _language(tag: str) -> str | None:
    """``zh-CN`` for any Chinese tag but the traditional ones (they still read zh-CN better
    than English), ``en`` for any English one."""
    primary = tag.strip().lower().split("-", 1)[0]
    return _PRIMARY.get(primary)


def negotiate(accept_language: str | None, cookie: str | None = None) -> str:
    """The language to serve: a valid ``fs_lang`` cookie, else the best ``Accept-Language``
    entry this page speaks, else ``zh-CN``. Never raises, whatever the headers hold."""
    if cookie in LANGUAGES:
        return cookie
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for order, entry in enumerate((accept_language or "")[:_MAX_HEADER].split(",")):
        tag, *params = entry.split(";")
        lang = _language(tag) if tag.strip() != "*" else None
        q = _weight(params)
        if lang is not None and q > best_q and order < 32:
            best, best_q = lang, q
    return best


def text(lang: str, key: str) -> str:
    try:
        return MESSAGES[lang][key]
    except KeyError:
        raise MissingText(f"no {lang} text for {key!r}") from None


def render(template: str, lang: str) -> str:
    """``template`` with each ``{{key}}`` replaced by its ``lang`` text (escaped) and the html
    element's ``lang`` set; :class:`MissingText` for a key without wording."""
    page = _PLACEHOLDER.sub(lambda m: html.escape(text(lang, m.group(1))), template)
    return page.replace('<html lang="zh-CN">', f'<html lang="{lang}">', 1)


def keys(template: str) -> set[str]:
    """The text keys a template names."""
    return set(_PLACEHOLDER.findall(template))


def texts_script() -> bytes:
    """``/static/i18n.js``: ``FS_LANGUAGES`` and ``FS_I18N`` (``{language: {key: text}}``)."""
    texts = {lang: dict(MESSAGES[lang]) for lang in LANGUAGES}
    return (
        b'"use strict";\n/* Generated from flashsale/front/pages/messages.py: the storefront\'s '
        b"texts in each language. */\nconst FS_LANGUAGES = "
        + orjson.dumps(list(LANGUAGES))
        + b";\nconst FS_I18N = "
        + orjson.dumps(texts, option=orjson.OPT_INDENT_2)
        + b";\n"
    )


def refusals_script() -> bytes:
    """``/static/refusals.js``: ``FS_REFUSALS``, ``{language: {API error code: {headline,
    message}}}`` from :func:`inventory.refusals.storefront_table`."""
    table = {lang: storefront_table(lang) for lang in LANGUAGES}
    return (
        b'"use strict";\n/* Generated from inventory/refusals.py: {language: {API error code: '
        b"{headline, message}}} of every error the API answers. */\nconst FS_REFUSALS = "
        + orjson.dumps(table, option=orjson.OPT_INDENT_2)
        + b";\n"
    )
