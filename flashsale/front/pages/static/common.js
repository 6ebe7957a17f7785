/* Shared helpers of the storefront: JSON API calls, the server clock, the language (texts from
   /static/i18n.js, error wording from /static/refusals.js), zh-CN/en formatting, DOM building.
   No framework; nothing is inserted as HTML (text only), so API data cannot inject markup. */
"use strict";

const FS = (() => {
  // -- server clock: offset = server time - client time, from the midpoint of a request ------
  let offset = 0;
  let bestRtt = Infinity;
  function sync(serverMs, sentAt, receivedAt) {
    const rtt = receivedAt - sentAt;
    const sample = serverMs - (sentAt + rtt / 2);
    // Prefer samples from fast round trips; drift slowly toward newer ones.
    if (rtt <= bestRtt * 1.5 || Math.abs(sample - offset) > 2000) {
      offset = bestRtt === Infinity ? sample : offset + (sample - offset) * 0.5;
      bestRtt = Math.min(bestRtt, rtt);
    }
  }
  const now = () => Date.now() + offset;

  // -- API ----------------------------------------------------------------------------------
  async function api(method, path, { body, token, headers = {} } = {}) {
    const h = { Accept: "application/json", ...headers };
    if (token) h.Authorization = "Bearer " + token;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const sentAt = Date.now();
    let res;
    try {
      res = await fetch(path, {
        method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store", credentials: "omit",
      });
    } catch (e) {
      return { ok: false, status: 0, error: { code: "network", message: "network error" } };
    }
    const receivedAt = Date.now();
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (data && typeof data.server_time === "number") sync(data.server_time, sentAt, receivedAt);
    if (res.ok) return { ok: true, status: res.status, data, headers: res.headers };
    const error = (data && data.error) || { code: res.status >= 500 ? "unavailable" : "http_" + res.status, message: String(res.status) };
    const retry = Number(res.headers.get("Retry-After"));
    return { ok: false, status: res.status, error, data, retryAfter: Number.isFinite(retry) && retry > 0 ? retry : null };
  }

  // -- language -----------------------------------------------------------------------------
  // The ops page loads this file without the storefront's texts: English, no texts.
  const LANGS = typeof FS_LANGUAGES === "undefined" ? ["en"] : FS_LANGUAGES;
  const TEXTS = typeof FS_I18N === "undefined" ? { en: {} } : FS_I18N;
  const ERRORS = typeof FS_REFUSALS === "undefined" ? { en: {} } : FS_REFUSALS;
  let lang = LANGS.includes(document.documentElement.lang) ? document.documentElement.lang : LANGS[0];
  const missing = new Set();   // keys asked for without a text (the browser tests read it)
  function t(key, vars) {
    let s = TEXTS[lang][key];
    if (s === undefined) { missing.add(lang + ":" + key); s = "⟦" + key + "⟧"; }
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
    return s;
  }
  const has = (key) => TEXTS[lang][key] !== undefined;
  /* The wording of an API error {code, message, field} in the page's language. */
  function errorText(e) {
    const w = ERRORS[lang][e.code];
    if (e.code === "invalid_request" && e.field) {
      const f = has("field." + e.field) ? t("field." + e.field) : t("field.other");
      return { headline: w.headline, message: t("error.field", { field: f }) };
    }
    if (w) return w;
    missing.add(lang + ":error:" + e.code);
    return { headline: t("result.not_bought"), message: "⟦" + e.code + "⟧" };
  }
  function applyStatic(root = document) {
    for (const node of root.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    for (const node of root.querySelectorAll("[data-t-aria]")) node.setAttribute("aria-label", t(node.dataset.tAria));
    for (const node of root.querySelectorAll("[data-t-title]")) node.setAttribute("title", t(node.dataset.tTitle));
  }
  const listeners = [];
  function setLang(next) {
    if (!LANGS.includes(next)) return;
    lang = next;
    document.cookie = "fs_lang=" + next + "; path=/; max-age=31536000; samesite=lax";
    document.documentElement.lang = next;
    applyStatic();
    for (const fn of listeners) fn();
  }
  const onLang = (fn) => listeners.push(fn);

  // -- formatting (zh-CN or en) ---------------------------------------------------------------
  function money(fen) {
    if (fen === null || fen === undefined) return "—";
    const yuan = fen / 100;
    return "¥" + yuan.toLocaleString(lang, { minimumFractionDigits: fen % 100 ? 2 : 0, maximumFractionDigits: 2 });
  }
  function duration(ms) {
    ms = Math.max(0, ms);
    const s = Math.floor(ms / 1000), d = Math.floor(s / 86400);
    const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, "0");
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    const ss = String(s % 60).padStart(2, "0");
    return (d ? t("dur.days", { n: d }) + " " : "") + hh + ":" + mm + ":" + ss;
  }
  /* A hold of a few seconds reads "20 秒", not "0 minutes". */
  function holdText(seconds) {
    if (seconds < 60) return t("hold.seconds", { n: seconds });
    if (seconds % 60 === 0) return t("hold.minutes", { n: seconds / 60 });
    return t("hold.minutes_seconds", { m: Math.floor(seconds / 60), s: seconds % 60 });
  }
  function waitText(ms) {
    if (ms === null || ms === undefined) return t("wait.unknown");
    const s = Math.max(1, Math.ceil(ms / 1000));
    return s < 60 ? t("wait.seconds", { n: s }) : t("wait.minutes", { n: Math.ceil(s / 60) });
  }
  const clock = (ms) => new Date(ms).toLocaleTimeString(lang, { hour12: false });
  const dateTime = (ms) => new Date(ms).toLocaleString(lang, {
    month: "long", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  /* An ISO date (2026-12-03) or date-time, as a calendar date. */
  function date(iso) {
    if (!iso) return "—";
    const only = /^\d{4}-\d{2}-\d{2}$/.test(iso);
    const d = new Date(only ? iso + "T00:00:00Z" : iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toLocaleDateString(lang, { year: "numeric", month: "long", day: "numeric", ...(only ? { timeZone: "UTC" } : {}) });
  }
  function dataAllowance(mb) {
    if (mb === null || mb === undefined) return null;
    return mb >= 1024 && mb % 1024 === 0 ? (mb / 1024) + " GB" : mb + " MB";
  }
  function gift(g) {
    const key = "gift." + g.kind;
    return has(key) ? t(key, { amount: g.amount }) : String(g.amount);
  }
  const maskPhone = (p) => (p && p.length === 11 ? p.slice(0, 3) + "****" + p.slice(7) : "");
  const spacedNumber = (n) => String(n).replace(/^(\d{3})(\d{4})(\d{4})$/, "$1 $2 $3");

  // -- DOM ----------------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "raw") node.dataset.raw = "";   // data as entered (names, ids): not translated
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  /* A <dl> of [label, value, {raw, id, class}] rows. */
  function facts(rows, attrs = { class: "facts" }) {
    return el("dl", attrs, rows.map(([k, v, o = {}]) => [el("dt", { text: k }),
      el("dd", { text: String(v ?? ""), raw: o.raw, id: o.id, class: o.class })]));
  }
  const $ = (id) => document.getElementById(id);
  function show(node, on = true) { node.hidden = !on; }

  function randomKey() {
    if (crypto.randomUUID) return "web-" + crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return "web-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  const load = (k) => { try { return JSON.parse(localStorage.getItem(k) || "null"); } catch (e) { return null; } };
  const save = (k, v) => (v === null ? localStorage.removeItem(k) : localStorage.setItem(k, JSON.stringify(v)));

  return {
    api, now, t, has, errorText, applyStatic, setLang, onLang, lang: () => lang, missing,
    money, duration, holdText, waitText, clock, dateTime, date, dataAllowance, gift, maskPhone,
    spacedNumber, el, facts, $, show, randomKey, load, save,
    app: {},   // the storefront's modules register here (queue, orders, buy, store)
  };
})();
