/* The storefront: live drops with server-synced countdowns, OTP login (resend cooldown, SMS
   limit, the masked phone in the header), the language switch, routing (#buy/<round>,
   #order/<id>, #orders) and the tick that keeps every card, button and countdown in step with the
   server's state. The buy form, the waiting room and the order page are buy.js, queue.js and
   orders.js. */
"use strict";

(() => {
  const { api, now, t, $, show, el, facts, money, duration, holdText, dataAllowance, gift, load, save } = FS;
  const app = FS.app;
  const POLL_MS = 3000;
  const state = app.state = {
    token: sessionStorage.getItem("fs_token"),
    buyer: sessionStorage.getItem("fs_buyer"),
    phone: sessionStorage.getItem("fs_phone"),   // masked: 138****5678
    rounds: new Map(),        // round_id -> round view from the API
    cards: new Map(),         // round_id -> card elements
  };

  // -- phase from the server's round state and clock ------------------------------------------
  function phase(r) {
    const tm = now();
    if (r.status === "closed" || tm >= r.ends_at) return "ended";
    if (r.status === "paused") return "paused";
    if (r.left <= 0) return "sold_out";
    if (tm < r.starts_at) return "upcoming";
    return "live";
  }
  const offerName = (r) => { const o = r.offer || {}; return o.offer_name || o.name || r.round_id; };

  // -- offer terms, shown plainly ---------------------------------------------------------------
  function terms(offer, r) {
    const rows = [[t("terms.price"), money(offer.price_fen)]];
    if (offer.monthly_fee_fen) rows.push([t("terms.monthly_fee"), t("terms.per_month", { x: money(offer.monthly_fee_fen) })]);
    const data = dataAllowance(offer.data_mb);
    if (data) rows.push([t("terms.data"), t("terms.per_month", { x: data })]);
    if (offer.voice_minutes) rows.push([t("terms.voice"), t("terms.voice_minutes", { n: offer.voice_minutes })]);
    if (offer.variant && typeof offer.variant === "object") {
      const v = Object.entries(offer.variant).filter(([, x]) => x).map(([k, x]) => (FS.has("variant." + k) ? t("variant." + k) : k) + " " + x).join("，");
      if (v) rows.push([t("terms.model"), v, { raw: true }]);
    }
    const gifts = (offer.gifts || []).map(gift);
    rows.push([t("terms.gifts"), gifts.length ? gifts.join(" + ") : t("terms.none")]);
    if (r) {
      rows.push([t("terms.limit"), t("terms.limit_value", { a: r.per_account_limit, b: r.per_id_limit })]);
      rows.push([t("terms.pay_within"), t("terms.pay_within_value", { d: holdText(r.hold_seconds) })]);
    }
    return facts(rows);
  }

  // -- rounds -------------------------------------------------------------------------------------
  async function loadRounds() {
    const res = await api("GET", "/api/rounds");
    if (!res.ok) return;
    const seen = new Set();
    for (const r of res.data.rounds) {
      seen.add(r.round_id);
      state.rounds.set(r.round_id, r);
      renderCard(r);
    }
    for (const [rid, c] of state.cards) {
      if (!seen.has(rid) && rid !== app.buy.selected()) { c.card.remove(); state.cards.delete(rid); state.rounds.delete(rid); }
    }
    show($("rounds-empty"), state.cards.size === 0);
    const route = pending;
    pending = null;
    if (route) route();
    tick();
  }

  function renderCard(r) {
    const offer = r.offer || {};
    let c = state.cards.get(r.round_id);
    if (!c) {
      c = {
        name: el("h3", { raw: true }),
        status: el("span", { class: "badge" }),
        price: el("p", { class: "price" }),
        countdown: el("span", { class: "countdown" }),
        left: el("span", { class: "left" }),
        choice: el("p", { class: "muted" }),
        note: el("p", { class: "note" }),
        button: el("button", { class: "primary", type: "button", onclick: () => app.buy.open(r.round_id) }),
        terms: el("div"),
      };
      c.card = el("article", { class: "card", dataset: { round: r.round_id }, id: "round-" + r.round_id },
        el("header", {}, c.name, c.status), c.price, c.terms, el("p", { class: "row" }, c.countdown, c.left),
        c.choice, c.note, c.button);
      $("rounds").append(c.card);
      state.cards.set(r.round_id, c);
    }
    c.left.textContent = t("card.left", { left: r.left, stocked: r.stocked });
    const sig = FS.lang() + JSON.stringify([r.offer, r.per_account_limit, r.per_id_limit, r.hold_seconds, r.number_choice]);
    if (c.sig === sig) return;
    c.sig = sig;
    c.name.textContent = offerName(r);
    c.price.textContent = money(offer.price_fen);
    c.terms.replaceChildren(terms(offer, r));
    c.choice.textContent = r.number_choice ? t("card.number_choice") : "";
    show(c.choice, !!r.number_choice);
  }

  function renderCards() { for (const r of state.rounds.values()) renderCard(r); }

  /* Every 200 ms: every card from the server's state and clock. */
  function tick() {
    const tm = now();
    $("clock").textContent = FS.clock(tm);
    for (const [rid, c] of state.cards) {
      const r = state.rounds.get(rid);
      if (!r) continue;
      const p = phase(r);
      const countdown = p === "upcoming" ? t("card.starts_in", { d: duration(r.starts_at - tm) })
        : p === "live" ? t("card.ends_in", { d: duration(r.ends_at - tm) }) : "";
      if (c.countdown.textContent !== countdown) c.countdown.textContent = countdown;
      if (c.phase === p && c.lang === FS.lang()) continue;   // nothing else changed
      c.phase = p;
      c.lang = FS.lang();
      c.status.textContent = t("phase." + p);
      c.status.className = "badge " + p;
      c.card.dataset.phase = p;
      const note = p === "sold_out" ? t("card.sold_out_note") : p === "paused" ? t("card.paused_note") : "";
      c.note.textContent = note;
      c.note.className = "note " + p;
      show(c.note, !!note);
      c.button.disabled = p === "sold_out" || p === "ended" || p === "paused";
      c.button.textContent = { sold_out: t("btn.sold_out"), ended: t("btn.ended"), paused: t("btn.paused"), upcoming: t("btn.get_ready") }[p] || t("btn.buy");
    }
    app.queue.tick();
    app.buy.update();
    app.orders.tick();
    app.orders.listTick();
    tickLogin();
  }
  app.changed = () => app.buy.update();

  // -- login ---------------------------------------------------------------------------------------
  const login = { cooldownUntil: Number(sessionStorage.getItem("fs_otp_cooldown") || 0), error: null, sent: null };

  function renderWho() {
    $("who").textContent = state.token ? t("login.who", { phone: state.phone || "" }) : "";
    show($("logout"), !!state.token);
    show($("login"), !state.token && app.buy.selected() !== null);
    app.orders.renderList();
    app.buy.update();
  }

  function normalizePhone(raw) {
    let p = raw.replace(/[\s-]/g, "");
    if (p.startsWith("+86")) p = p.slice(3); else if (p.startsWith("0086")) p = p.slice(4);
    return /^1[3-9][0-9]{9}$/.test(p) ? p : null;
  }

  function cooldown(seconds) {
    login.cooldownUntil = Date.now() + seconds * 1000;
    sessionStorage.setItem("fs_otp_cooldown", String(login.cooldownUntil));
    tickLogin();
  }

  function tickLogin() {
    const b = $("send-code");
    const left = Math.ceil((login.cooldownUntil - Date.now()) / 1000);
    b.disabled = left > 0;
    b.dataset.cooldown = left > 0 ? String(left) : "0";
    b.textContent = left > 0 ? t("login.resend_in", { s: left }) : login.sent ? t("login.resend") : t("login.send");
  }

  function loginError(message) {
    login.error = message;
    $("login-error").textContent = message;
    show($("login-error"), !!message);
  }

  const waitFor = (s) => (s < 60 ? t("hold.seconds", { n: Math.max(1, Math.round(s)) }) : t("hold.minutes", { n: Math.ceil(s / 60) }));

  async function sendCode(ev) {
    ev.preventDefault();
    loginError("");
    const phone = normalizePhone($("phone").value);
    if (!phone) return loginError(t("login.bad_phone"));
    if (login.cooldownUntil > Date.now()) return;
    const res = await api("POST", "/api/auth/otp", { body: { phone } });
    if (!res.ok) {
      const e = res.error, wait = res.retryAfter || 60;
      if (e.code === "otp_cooldown") { cooldown(wait); show($("verify-form")); return loginError(t("login.cooldown", { wait: waitFor(wait) })); }
      if (e.code === "rate_limited") { cooldown(Math.min(wait, 3600)); return loginError(t("login.sms_limit", { wait: waitFor(wait) })); }
      if (e.code === "otp_locked") return loginError(t("login.locked", { wait: waitFor(wait) }));
      if (e.code === "invalid_request") return loginError(t("login.bad_phone"));
      return loginError(FS.errorText(e).message);
    }
    login.sent = phone;
    cooldown(res.data.resend_after);
    $("otp-sent").textContent = t("login.sent", { phone: FS.maskPhone(phone), m: Math.round(res.data.expires_in / 60) });
    show($("otp-sent"));
    show($("verify-form"));
    $("code").focus();
    const sms = await api("GET", "/api/dev/sms?phone=" + encodeURIComponent(phone));
    if (sms.ok && sms.data.messages && sms.data.messages.length) {
      const m = sms.data.messages[0];
      const text = String(m.text || m.message || "");
      $("dev-sms").replaceChildren(t("login.dev_sms", { phone: FS.maskPhone(phone) }) + " ", el("span", { raw: true, text }));
      show($("dev-sms"));
      const code = text.match(/(\d{6})/);
      if (code) $("code").value = code[1];
    }
  }

  async function verify(ev) {
    ev.preventDefault();
    loginError("");
    const phone = normalizePhone($("phone").value);
    if (!phone) return loginError(t("login.bad_phone"));
    const code = $("code").value.trim();
    if (!/^\d{6}$/.test(code)) return loginError(t("login.bad_code"));
    const res = await api("POST", "/api/auth/verify", { body: { phone, code } });
    if (!res.ok) {
      const e = res.error;
      const left = e.code === "invalid_code" && /(\d+)/.exec(e.message || "");
      if (left) return loginError(t("login.attempts_left", { n: left[1] }));
      if (e.code === "otp_locked") return loginError(t("login.locked", { wait: waitFor(res.retryAfter || 900) }));
      return loginError(FS.errorText(e).message);
    }
    state.token = res.data.token;
    state.buyer = res.data.buyer_id;
    state.phone = FS.maskPhone(phone);   // only the masked form is kept
    sessionStorage.setItem("fs_token", state.token);
    sessionStorage.setItem("fs_buyer", state.buyer || "");
    sessionStorage.setItem("fs_phone", state.phone);
    show($("verify-form"), false);
    show($("dev-sms"), false);
    show($("otp-sent"), false);
    renderWho();
    app.orders.loadList();
    app.buy.enter();
  }

  function logout() {
    state.token = state.buyer = state.phone = null;
    for (const k of ["fs_token", "fs_buyer", "fs_phone"]) sessionStorage.removeItem(k);
    app.queue.stop();
    app.orders.close();
    renderWho();
  }
  Object.assign(app, { phase, offerName, terms, logout, renderWho });

  // -- routing ----------------------------------------------------------------------------------------
  let pending = null;   // a route that needs the rounds first
  function route() {
    const h = location.hash;
    let m;
    if ((m = h.match(/^#order\/(.+)$/))) { app.orders.open(decodeURIComponent(m[1])); return; }
    if ((m = h.match(/^#buy\/(.+)$/))) {
      const rid = decodeURIComponent(m[1]);
      if (state.rounds.has(rid)) app.buy.open(rid); else pending = () => { if (state.rounds.has(rid)) app.buy.open(rid); };
      return;
    }
    if (h === "#orders") { app.orders.loadList(); $("my-orders").scrollIntoView({ block: "start" }); }
  }

  function switchLang() {
    FS.setLang(FS.lang() === "zh-CN" ? "en" : "zh-CN");
  }
  FS.onLang(() => {
    renderCards();
    renderWho();
    if (app.buy.selected()) app.buy.render();
    app.queue.render();
    app.pow.render();
    app.orders.render();
    tick();
  });

  // -- wiring ---------------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("otp-form").addEventListener("submit", sendCode);
    $("verify-form").addEventListener("submit", verify);
    $("logout").addEventListener("click", logout);
    $("lang-switch").addEventListener("click", switchLang);
    $("buy-form").addEventListener("submit", app.buy.submit);
    $("more-numbers").addEventListener("click", app.buy.loadNumbers);
    $("read-agreement").addEventListener("click", app.buy.openAgreement);
    $("confirm-buy").addEventListener("click", app.buy.reserve);
    $("confirm-back").addEventListener("click", () => $("confirm").close());
    $("agreement-close").addEventListener("click", () => $("agreement").close());
    $("pay-button").addEventListener("click", app.orders.pay);
    $("refresh-order").addEventListener("click", app.orders.refresh);
    window.addEventListener("hashchange", route);
    renderWho();
    route();
    loadRounds();
    if (state.token) app.orders.loadList();
    setInterval(loadRounds, POLL_MS);
    setInterval(tick, 200);
  });
})();
