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

Every row is worded in English (``en``: the API's message) and Simplified Chinese (``zh``: the
storefront's default language). :data:`OTHER_ANSWERS` words, in the same two languages, the API's
error codes that are not refusals of a reservation (login, payment, waiting room, transport), so
the storefront's table (:func:`storefront_table`) covers every code the API can answer.
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
    RETRY_LATER = "retry_later"


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
    #: The Simplified Chinese wording (zh-CN).
    zh: Wording
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
#: The ``unavailable`` answer's wording (a bucketed round's retry_later answers it too).
_BUSY: Mapping[str, Wording] = {
    "en": Wording("busy right now: retry in a moment (you will not buy twice)",
                  "Busy, please retry"),
    "zh-CN": Wording("系统繁忙，请稍后重试（不会重复购买）", "系统繁忙"),
}  # fmt: skip

# fmt: off
_ROWS = (
    # Gates: the round's state and the request's own fields. Never stored.
    Refusal(_C.NOT_ARMED, 404, retriable=True, stored=False,
            en=Wording("no such round"),
            zh=Wording("没有这场活动"), answer_as="not_found"),
    Refusal(_C.PAUSED, 409, retriable=True, stored=False,
            en=Wording("the sale is paused; try again shortly", "Paused"),
            zh=Wording("本场暂停销售，请稍后再试", "暂停销售")),
    Refusal(_C.NOT_STARTED, 409, retriable=True, stored=False,
            en=Wording("the sale has not started yet", "Not started yet"),
            zh=Wording("还没有开始，请等到开售时间", "尚未开始")),
    Refusal(_C.ENDED, 409, retriable=False, stored=False,
            en=Wording("the sale has ended", "This drop has ended"),
            zh=Wording("本场已结束", "本场已结束")),
    Refusal(_C.CHANNEL_NOT_ALLOWED, 403, retriable=False, stored=False,
            en=Wording("this round is not sold on that channel", "Not sold on this channel"),
            zh=Wording("本场不在这个渠道销售", "该渠道不可购买")),
    Refusal(_C.AGREEMENT_OUTDATED, 409, retriable=False, stored=False,
            en=Wording("accept the current agreement version first", "Agreement changed"),
            zh=Wording("协议已更新，请先阅读并同意最新版本", "协议已更新")),
    Refusal(_C.INVALID_REQUEST, 400, retriable=False, stored=False,
            en=Wording("invalid request", "Please check the form"),
            zh=Wording("请求无效", "请检查填写内容")),
    # The key was used for another request: answered from the stored outcome, never stored.
    Refusal(_C.IDEMPOTENCY_MISMATCH, 422, retriable=False, stored=False,
            en=Wording("this Idempotency-Key was used for a different request",
                       "Please reload and retry"),
            zh=Wording("这次提交与之前的不一致，请刷新页面后重新下单", "请刷新后重试")),
    # This buyer's or this number's state: stored, a retry with the same key replays it.
    Refusal(_C.LIMIT_REACHED, 409, retriable=False, stored=True,
            en=Wording("purchase limit reached for this account or ID number", "Limit reached"),
            zh=Wording("已达到本账号或该身份证号码的限购数量", "已达限购数量")),
    Refusal(_C.NUMBER_CHOICE_DISABLED, 400, retriable=False, stored=True,
            en=Wording("this round does not offer number choice", "No number choice"),
            zh=Wording("本场不支持选号", "不支持选号")),
    Refusal(_C.NUMBER_TAKEN, 409, retriable=False, stored=True,
            en=Wording("that phone number is already taken", "Number taken"),
            zh=Wording("该号码已被他人选走，请换一个号码", "号码已被选走")),
    # Shoppers are told "taken" either way; the message says which.
    Refusal(_C.NUMBER_UNKNOWN, 409, retriable=False, stored=True,
            en=Wording("that phone number is not offered in this round", "Number taken"),
            zh=Wording("本场没有这个号码，请换一个号码", "号码已被选走"),
            answer_as="number_taken"),
    # Transient like paused: units come back (expiry, cancellation, restock). Never stored.
    Refusal(_C.SOLD_OUT, 409, retriable=True, stored=False,
            en=Wording("sold out", "Sold out"),
            zh=Wording("已售罄", "已售罄")),
    # A bucketed round (inventory/_buckets.py): this Idempotency-Key's first attempt is still
    # being decided, or its limit token ran out before a bucket took it. Never stored.
    Refusal(_C.RETRY_LATER, 503, retriable=True, stored=False,
            en=_BUSY["en"], zh=_BUSY["zh-CN"], answer_as="unavailable"),
)
# fmt: on

REFUSALS: Mapping[str, Refusal] = {r.code.value: r for r in _ROWS}

#: Every refusal code a script may return.
CODES: tuple[str, ...] = tuple(REFUSALS)
#: The error codes the API answers refusals with (the OpenAPI enum of a refused reservation).
ANSWER_CODES: tuple[str, ...] = tuple(dict.fromkeys(r.answer for r in REFUSALS.values()))

#: The languages every row is worded in; the storefront's default comes first.
LANGUAGES: tuple[str, ...] = ("zh-CN", "en")

_W = Wording
# fmt: off
#: The API's other error codes, worded for the shopper in both languages: {code: {lang: Wording}}.
#: ``network`` is the page's own (the request never reached the server).
OTHER_ANSWERS: Mapping[str, Mapping[str, Wording]] = {
    "unauthorized": {"en": _W("please log in again", "Please log in again"),
                     "zh-CN": _W("登录已失效，请重新登录", "请重新登录")},
    "forbidden": {"en": _W("not allowed", "Not allowed"),
                  "zh-CN": _W("没有权限进行此操作", "无权操作")},
    "not_found": {"en": _W("not found: it may have ended or been removed", "Not found"),
                  "zh-CN": _W("没有找到，可能已结束或已删除", "没有找到")},
    "method_not_allowed": {"en": _W("this action is not supported", "Not supported"),
                           "zh-CN": _W("不支持此操作", "不支持此操作")},
    "payload_too_large": {"en": _W("what was sent is too long", "Too long"),
                          "zh-CN": _W("填写的内容太长了", "内容过长")},
    "unsupported_media_type": {"en": _W("the page sent something the server cannot read",
                                        "Please reload"),
                               "zh-CN": _W("页面发送的数据无法识别，请刷新页面", "请刷新页面")},
    "order_not_payable": {"en": _W("this order can no longer be paid", "Cannot pay"),
                          "zh-CN": _W("该订单已无法支付", "无法支付")},
    "round_not_changeable": {"en": _W("the round's state does not allow that now", "Not now"),
                             "zh-CN": _W("本场当前状态不允许此操作", "暂不可操作")},
    "invalid_signature": {"en": _W("the payment confirmation was not valid", "Payment problem"),
                          "zh-CN": _W("支付确认无效", "支付异常")},
    "invalid_callback": {"en": _W("the payment confirmation was not valid", "Payment problem"),
                         "zh-CN": _W("支付确认无效", "支付异常")},
    "stale_callback": {"en": _W("the payment confirmation came too late", "Payment problem"),
                       "zh-CN": _W("支付确认已过期", "支付异常")},
    "replayed_callback": {"en": _W("this payment was already confirmed", "Already paid"),
                          "zh-CN": _W("该笔支付已确认", "已支付")},
    "invalid_code": {"en": _W("wrong verification code", "Wrong code"),
                     "zh-CN": _W("验证码错误，请重新输入", "验证码错误")},
    "code_expired": {"en": _W("the code expired or was used: ask for a new one", "Code expired"),
                     "zh-CN": _W("验证码已失效，请重新获取", "验证码已失效")},
    "otp_locked": {"en": _W("too many wrong codes: this number is locked for a while",
                            "Temporarily locked"),
                   "zh-CN": _W("验证码错误次数过多，该号码暂时被锁定", "暂时锁定")},
    "otp_cooldown": {"en": _W("a code was just sent: wait before asking again", "Code just sent"),
                     "zh-CN": _W("验证码刚刚已发送，请稍后再获取", "验证码已发送")},
    "rate_limited": {"en": _W("too many requests: please slow down and retry", "Too many tries"),
                     "zh-CN": _W("操作太频繁，请稍后重试", "操作太频繁")},
    "admission_required": {"en": _W("wait your turn in the queue first", "Please queue"),
                           "zh-CN": _W("请先排队，轮到您后再下单", "请先排队")},
    "challenge_failed": {"en": _W("browser check failed: please retry", "Check failed"),
                         "zh-CN": _W("浏览器验证未通过，请重试", "验证未通过")},
    "unavailable": _BUSY,
    "internal": {"en": _W("something went wrong on our side: please retry", "Something went wrong"),
                 "zh-CN": _W("系统出了点问题，请重试", "出错了")},
    "network": {"en": _W("network error: check your connection and retry", "Connection problem"),
                "zh-CN": _W("网络异常，请检查网络后重试", "网络异常")},
}
# fmt: on


def refusal(code: str) -> Refusal | None:
    return REFUSALS.get(code)


def retriable(code: str) -> bool:
    """Whether a refusal ``code`` may go away on a later retry (unknown codes: no)."""
    r = REFUSALS.get(code)
    return r.retriable if r is not None else False


def wording(code: str, lang: str = "en") -> Wording:
    """The wording of refusal ``code`` in ``lang`` (``zh-CN`` or English)."""
    r = REFUSALS[code]
    return r.zh if lang == "zh-CN" else r.en


def storefront_table(lang: str = "en") -> dict[str, dict[str, str]]:
    """``{API error code: {"headline", "message"}}`` in ``lang``: the refusals (an answer code's
    first row with a headline), then every other code of :data:`OTHER_ANSWERS`."""
    out: dict[str, dict[str, str]] = {}
    for r in REFUSALS.values():
        w = wording(r.code, lang)
        if w.headline is not None and r.answer not in out:
            out[r.answer] = {"headline": w.headline, "message": w.message}
    for code, by_lang in OTHER_ANSWERS.items():
        w = by_lang["zh-CN" if lang == "zh-CN" else "en"]
        out.setdefault(code, {"headline": w.headline or w.message, "message": w.message})
    return out
