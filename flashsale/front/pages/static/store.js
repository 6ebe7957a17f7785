/* The storefront: live drops with server-synced countdowns, OTP login, the buy form (one
   Idempotency-Key per form, reused on retries), the result, paying and the order view. */
"use strict";

(() => {
  const { api, now, yuan, duration, clock, dateTime, dataAllowance, gift, el, $, show, randomKey } = FS;
  const POLL_MS = 3000;
  const RETRIABLE = new Set(["network", "unavailable", "rate_limited", "internal", "paused"]);
  // Refusals are worded by the server's table (/static/refusals.js, from inventory/refusals.py).
  const HEADLINES = {
    ...Object.fromEntries(Object.entries(FS_REFUSALS).map(([code, w]) => [code, w.headline])),
    unauthorized: "Please log in again", unavailable: "Busy — please retry",
    network: "Connection problem",
  };

  const state = {
    token: sessionStorage.getItem("fs_token"),
    buyer: sessionStorage.getItem("fs_buyer"),
    rounds: new Map(),        // round_id -> round view from the API
    cards: new Map(),         // round_id -> {card, status, countdown, left, button}
    selected: null,           // round_id of the open buy form
    key: null,                // Idempotency-Key of the open buy form
    busy: false,
    reserved: null,           // the reservation answer of the open form, once reserved
    number: null,
    order: null,              // order id shown in the order panel
  };

  // -- phase from the server clock ------------------------------------------------------------
  function phase(r) {
    const t = now();
    if (r.status === "closed" || t >= r.ends_at) return "ended";
    if (r.status === "paused") return "paused";
    if (r.left <= 0) return "sold_out";
    if (t < r.starts_at) return "upcoming";
    return "live";
  }
  const PHASE_TEXT = { upcoming: "Starts soon", live: "On sale", sold_out: "Sold out", paused: "Paused", ended: "Ended" };

  // -- offer terms, shown plainly -------------------------------------------------------------
  function terms(offer, r) {
    const rows = [["Price", yuan(offer.price_fen)]];
    if (offer.monthly_fee_fen) rows.push(["Monthly fee", yuan(offer.monthly_fee_fen) + " / month"]);
    const data = dataAllowance(offer.data_mb);
    if (data) rows.push(["Data", data + " / month"]);
    if (offer.voice_minutes) rows.push(["Voice", offer.voice_minutes + " minutes / month"]);
    if (offer.variant && typeof offer.variant === "object") {
      const v = Object.entries(offer.variant).map(([k, x]) => k + ": " + x).join(", ");
      if (v) rows.push(["Model", v]);
    }
    const gifts = (offer.gifts || []).map(gift);
    rows.push(["Gifts", gifts.length ? gifts.join(" + ") : "none"]);
    if (r) {
      rows.push(["Limit", r.per_account_limit + " per account, " + r.per_id_limit + " per ID number"]);
      rows.push(["Pay within", Math.round(r.hold_seconds / 60) + " minutes of reserving"]);
    }
    return el("dl", { class: "facts" }, rows.map(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  }

  // -- rounds ---------------------------------------------------------------------------------
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
      if (!seen.has(rid) && rid !== state.selected) { c.card.remove(); state.cards.delete(rid); state.rounds.delete(rid); }
    }
    show($("rounds-empty"), state.cards.size === 0);
    tick();
  }

  function renderCard(r) {
    const offer = r.offer || {};
    let c = state.cards.get(r.round_id);
    if (!c) {
      const name = offer.offer_name || offer.name || "Offer " + (r.offer_id || "");
      c = {
        status: el("span", { class: "badge" }),
        countdown: el("span", { class: "countdown" }),
        left: el("span", { class: "left" }),
        button: el("button", { class: "primary", type: "button", onclick: () => openBuy(r.round_id) }, "Buy"),
        terms: el("div"),
      };
      c.card = el("article", { class: "card", dataset: { round: r.round_id }, id: "round-" + r.round_id },
        el("header", {}, el("h3", { text: name }), c.status),
        el("p", { class: "price", text: yuan(offer.price_fen) }),
        c.terms,
        el("p", { class: "row" }, c.countdown, c.left),
        r.number_choice ? el("p", { class: "muted", text: "Choose your own number" }) : null,
        c.button);
      $("rounds").append(c.card);
      state.cards.set(r.round_id, c);
    }
    c.terms.replaceChildren(terms(offer, r));
    c.left.textContent = r.left + " of " + r.stocked + " left";
  }

  function tick() {
    const t = now();
    $("clock").textContent = clock(t);
    for (const [rid, c] of state.cards) {
      const r = state.rounds.get(rid);
      if (!r) continue;
      const p = phase(r);
      c.status.textContent = PHASE_TEXT[p];
      c.status.className = "badge " + p;
      c.card.dataset.phase = p;
      c.countdown.textContent = p === "upcoming" ? "Starts in " + duration(r.starts_at - t)
        : p === "live" ? "Ends in " + duration(r.ends_at - t) : "";
      c.button.disabled = p === "sold_out" || p === "ended";
      c.button.textContent = p === "sold_out" ? "Sold out" : p === "ended" ? "Ended" : "Buy";
    }
    updateBuyButton();
  }

  // -- login ----------------------------------------------------------------------------------
  function renderWho() {
    $("who").textContent = state.token ? "Logged in" + (state.buyer ? " (" + state.buyer.slice(0, 12) + ")" : "") : "";
    show($("logout"), !!state.token);
    show($("login"), !state.token && state.selected !== null);
    renderMyOrders();
    updateBuyButton();
  }

  async function sendCode(ev) {
    ev.preventDefault();
    const phone = $("phone").value.trim();
    show($("login-error"), false);
    const res = await api("POST", "/api/auth/otp", { body: { phone } });
    if (!res.ok) return loginError(res.error);
    show($("verify-form"));
    $("code").focus();
    const sms = await api("GET", "/api/dev/sms?phone=" + encodeURIComponent(phone));
    if (sms.ok && sms.data.messages && sms.data.messages.length) {
      const m = sms.data.messages[0];
      $("dev-sms").textContent = "Dev mode — SMS to " + phone + ": " + (m.text || m.message || JSON.stringify(m));
      show($("dev-sms"));
      const code = String(m.text || m.message || "").match(/\b(\d{4,8})\b/);
      if (code) $("code").value = code[1];
    }
  }

  async function verify(ev) {
    ev.preventDefault();
    const res = await api("POST", "/api/auth/verify", { body: { phone: $("phone").value.trim(), code: $("code").value.trim() } });
    if (!res.ok) return loginError(res.error);
    state.token = res.data.token;
    state.buyer = res.data.buyer_id;
    sessionStorage.setItem("fs_token", state.token);
    sessionStorage.setItem("fs_buyer", state.buyer || "");
    show($("verify-form"), false);
    show($("dev-sms"), false);
    renderWho();
  }

  function loginError(e) { $("login-error").textContent = e.message; show($("login-error")); }

  function logout() {
    state.token = state.buyer = null;
    sessionStorage.removeItem("fs_token");
    sessionStorage.removeItem("fs_buyer");
    renderWho();
  }

  // -- buying ---------------------------------------------------------------------------------
  function openBuy(rid) {
    const r = state.rounds.get(rid);
    if (!r) return;
    if (state.selected !== rid) {
      state.key = randomKey();     // one form shown = one purchase attempt = one key
      state.reserved = null;
      state.number = null;
      show($("result"), false);
    }
    state.selected = rid;
    const offer = r.offer || {};
    $("buy-title").textContent = "Buy: " + (offer.offer_name || offer.name || rid);
    $("buy-terms").replaceChildren(terms(offer, r));
    $("agreement-version").textContent = r.agreement_version || offer.agreement_version || "";
    show($("numbers-box"), !!r.number_choice);
    if (r.number_choice) loadNumbers();
    show($("buy"));
    renderWho();
    $("buy").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  async function loadNumbers() {
    const res = await api("GET", "/api/rounds/" + encodeURIComponent(state.selected) + "/numbers?limit=12");
    const box = $("numbers");
    if (!res.ok) { box.replaceChildren(el("p", { class: "muted", text: res.error.message })); return; }
    if (!res.data.numbers.length) { box.replaceChildren(el("p", { class: "muted", text: "No numbers left to choose." })); return; }
    box.replaceChildren(...res.data.numbers.map((n) =>
      el("label", { class: "number" },
        el("input", { type: "radio", name: "number", value: n.number, onchange: () => { state.number = n.number; } }),
        el("span", { text: n.number.replace(/(\d{3})(\d{4})(\d{4})/, "$1 $2 $3") }),
        n.surcharge_fen ? el("small", { text: " +" + yuan(n.surcharge_fen) }) : null)));
    state.number = null;
  }

  function updateBuyButton() {
    const b = $("buy-button");
    const r = state.selected && state.rounds.get(state.selected);
    if (!r) { b.disabled = true; return; }
    const p = phase(r);
    let label = "Buy now";
    let hint = "";
    if (state.reserved) { label = "Reserved"; hint = "Your order is reserved below."; }
    else if (p === "upcoming") { label = "Starts in " + duration(r.starts_at - now()); hint = "The button unlocks at the start (server time)."; }
    else if (p === "sold_out") label = "Sold out";
    else if (p === "ended") label = "Ended";
    else if (p === "paused") label = "Paused";
    else if (!state.token) { hint = "Log in above to buy."; }
    if (state.busy) label = "Buying…";
    b.textContent = label;
    b.disabled = state.busy || !!state.reserved || p !== "live" || !state.token;
    $("buy-hint").textContent = hint;
  }

  async function buy(ev) {
    ev.preventDefault();
    if (state.busy || state.reserved) return;   // double clicks buy once
    const r = state.rounds.get(state.selected);
    if (!r || phase(r) !== "live" || !state.token) return;
    const missing = ["real-name", "id-number", "address"].find((id) => !$(id).value.trim());
    if (missing) return result(false, { code: "invalid_request", message: "Please fill in " + $(missing).name.replace("_", " ") + "." });
    if (!$("agree").checked) return result(false, { code: "invalid_request", message: "Please accept the agreement first." });
    if (r.number_choice && !state.number) return result(false, { code: "invalid_request", message: "Please pick a phone number." });
    state.busy = true;
    updateBuyButton();
    const body = {
      quantity: 1,
      real_name: $("real-name").value.trim(),
      id_number: $("id-number").value.trim().toUpperCase(),
      address: $("address").value.trim(),
      agreement_version: r.agreement_version || (r.offer || {}).agreement_version,
      channel: window.matchMedia("(max-width: 640px)").matches ? "mobile" : "web",
    };
    if (state.number) body.number = state.number;
    let res;
    try {
      res = await api("POST", "/api/rounds/" + encodeURIComponent(r.round_id) + "/orders",
        { body, token: state.token, headers: { "Idempotency-Key": state.key } });
    } finally {
      state.busy = false;
    }
    if (res.ok) {
      state.reserved = res.data;
      remember(res.data.order_id);
      result(true, res.data);
      showOrder(res.data.order_id);
    } else {
      // A retriable failure keeps the key (a retry can never buy twice); a definitive refusal
      // gets a fresh key so that a corrected form is a new attempt.
      if (!RETRIABLE.has(res.error.code)) state.key = randomKey();
      if (res.error.code === "unauthorized") logout();
      if (res.error.code === "number_taken") loadNumbers();
      result(false, res.error);
    }
    updateBuyButton();
  }

  // The amount due the server fixed for the order: price + surcharge = total.
  function amountText(a) {
    if (!a.surcharge_fen) return "To pay: " + yuan(a.total_fen);
    return "To pay: " + yuan(a.price_fen) + " + " + yuan(a.surcharge_fen) + " number surcharge = " + yuan(a.total_fen);
  }

  function result(ok, data) {
    const box = $("result");
    box.className = ok ? "result ok" : "result error " + data.code;
    box.dataset.code = ok ? "reserved" : data.code;
    if (ok) {
      box.replaceChildren(
        el("strong", { text: "Reserved!" }),
        el("p", {}, "Order ", el("code", { text: data.order_id }), " is held for you."),
        ...(data.amount_due ? [el("p", { class: "amount", text: amountText(data.amount_due) })] : []),
        el("p", { class: "deadline", text: "Pay before " + clock(data.pay_before) + " (" + duration(data.pay_before - now()) + " left), or it is released." }));
    } else {
      box.replaceChildren(el("strong", { text: HEADLINES[data.code] || "Not bought" }), el("p", { text: data.message }));
    }
    show(box);
  }

  // -- orders ---------------------------------------------------------------------------------
  const ordersKey = () => "fs_orders:" + (state.buyer || "anon");
  function remember(id) {
    const ids = JSON.parse(localStorage.getItem(ordersKey()) || "[]").filter((x) => x !== id);
    ids.unshift(id);
    localStorage.setItem(ordersKey(), JSON.stringify(ids.slice(0, 20)));
    renderMyOrders();
  }
  function renderMyOrders() {
    const ids = state.token ? JSON.parse(localStorage.getItem(ordersKey()) || "[]") : [];
    $("order-list").replaceChildren(...ids.map((id) => el("li", {}, el("a", { href: "#order/" + id, text: id }))));
    show($("my-orders"), ids.length > 0);
  }

  async function showOrder(id) {
    state.order = id;
    show($("order"));
    await refreshOrder();
  }

  async function refreshOrder() {
    if (!state.order || !state.token) return;
    const res = await api("GET", "/api/orders/" + encodeURIComponent(state.order), { token: state.token });
    if (!res.ok) { $("order-error").textContent = res.error.message; show($("order-error")); return; }
    show($("order-error"), false);
    const o = res.data, offer = o.offer || {};
    const rows = [
      ["Status", o.status], ["Order", o.order_id], ["Item", offer.offer_name || offer.name || ""],
      ["Quantity", o.quantity], ["Price", yuan(offer.price_fen)],
      ...(o.amount_due ? [["Amount due", amountText(o.amount_due).replace("To pay: ", "")]] : []),
      ["Number", o.number || "assigned at shipping"], ["Channel", o.channel],
      ["Agreement", o.agreement_version],
      ["Gifts", (offer.gifts || []).map(gift).join(" + ") || "none"],
    ];
    if (o.status === "reserved") rows.push(["Pay before", dateTime(o.pay_before_ms)]);
    if (o.payment_id) rows.push(["Payment", o.payment_id + (o.amount !== null && o.amount !== undefined ? " (" + yuan(o.amount) + ")" : "")]);
    if (o.tracking || o.carrier) rows.push(["Tracking", [o.carrier, o.tracking].filter(Boolean).join(" ")]);
    $("order-view").replaceChildren(...rows.map(([k, v]) =>
      [el("dt", { text: k }), el("dd", { text: String(v ?? ""), class: k === "Status" ? "status " + o.status : null, id: k === "Status" ? "order-status" : null })]).flat());
    $("order").dataset.status = o.status;
    show($("pay-button"), o.status === "reserved");
  }

  async function pay() {
    const b = $("pay-button");
    if (b.disabled) return;
    b.disabled = true;
    const res = await api("POST", "/api/orders/" + encodeURIComponent(state.order) + "/pay", { body: { instant: true }, token: state.token });
    b.disabled = false;
    if (!res.ok) { $("order-error").textContent = res.error.message; show($("order-error")); }
    await refreshOrder();
  }

  function route() {
    const m = location.hash.match(/^#order\/(.+)$/);
    if (m) showOrder(decodeURIComponent(m[1]));
  }

  // -- wiring ---------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("otp-form").addEventListener("submit", sendCode);
    $("verify-form").addEventListener("submit", verify);
    $("logout").addEventListener("click", logout);
    $("buy-form").addEventListener("submit", buy);
    $("more-numbers").addEventListener("click", loadNumbers);
    $("pay-button").addEventListener("click", pay);
    $("refresh-order").addEventListener("click", refreshOrder);
    window.addEventListener("hashchange", route);
    renderWho();
    loadRounds();
    route();
    setInterval(loadRounds, POLL_MS);
    setInterval(tick, 200);
    setInterval(() => { if (!$("order").hidden) refreshOrder(); }, 5000);
  });
})();
