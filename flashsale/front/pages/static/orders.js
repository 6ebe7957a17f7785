/* The order page (status, amounts, pay countdown, tracking: carrier, number, history timeline,
   promised date), refreshed from the server while it can still change, and "My orders" (the
   server's list of the buyer's orders, plus the ones this browser just made that the pipeline
   has not written yet). */
"use strict";

(() => {
  const { api, now, t, $, show, el, facts, money, dateTime, date, duration, gift, load, save } = FS;
  const app = FS.app;
  const FINAL = new Set(["expired", "cancelled", "delivered", "refunded"]);
  const POLL_MS = 3000;
  const o = { id: null, view: null, fetching: false, lastFetch: 0, error: null };
  const views = new Map();   // order id -> latest server view (also read by the buy panel)

  function amountText(a) {
    if (!a) return "—";
    if (!a.surcharge_fen) return money(a.total_fen);
    return t("confirm.amount_surcharge", { price: money(a.price_fen), fee: money(a.surcharge_fen), total: money(a.total_fen) });
  }
  const statusText = (s) => (FS.has("status." + s) ? t("status." + s) : s);
  const shipText = (s) => (FS.has("ship." + s) ? t("ship." + s) : s);

  async function open(id) {
    if (o.id !== id) { o.view = views.get(id) || null; o.error = null; }
    o.id = id;
    show($("order"));
    render();
    await refresh();
  }

  async function refresh() {
    const id = o.id;
    if (!id || !app.state.token || o.fetching) return;
    o.fetching = true;
    o.lastFetch = Date.now();
    const res = await api("GET", "/api/orders/" + encodeURIComponent(id), { token: app.state.token });
    o.fetching = false;
    if (id !== o.id) return;
    if (!res.ok) {
      if (res.error.code === "unauthorized") { app.logout(); return; }
      o.error = res.error;
    } else {
      o.error = null;
      o.view = res.data;
      views.set(id, res.data);
      remember(id);
    }
    render();
    app.changed();
  }

  function render() {
    const v = o.view;
    show($("order-error"), !!o.error);
    if (o.error) $("order-error").textContent = FS.errorText(o.error).message;
    if (!v) { $("order-view").replaceChildren(); show($("tracking"), false); return; }
    const offer = v.offer || {};
    const rows = [
      [t("order.status"), statusText(v.status), { id: "order-status", class: "status " + v.status }],
      [t("order.id"), v.order_id, { raw: true, id: "order-id" }],
      [t("order.item"), offer.offer_name || offer.name || "", { raw: true }],
      [t("order.quantity"), v.quantity],
      [t("order.amount"), amountText(v.amount_due), { id: "order-amount" }],
      [t("order.number"), v.number ? FS.spacedNumber(v.number) : t("confirm.number_assigned"), { id: "order-number" }],
      [t("order.channel"), FS.has("channel." + v.channel) ? t("channel." + v.channel) : v.channel],
      [t("order.agreement"), v.agreement_version, { raw: true }],
      [t("order.gifts"), (offer.gifts || []).map(gift).join(" + ") || t("terms.none")],
    ];
    if (v.status === "reserved") rows.push([t("order.pay_before"), dateTime(v.pay_before_ms)]);
    if (v.payment_id) rows.push([t("order.payment"), v.payment_id, { raw: true }]);
    $("order-view").replaceChildren(...facts(rows).childNodes);
    $("order").dataset.status = v.status;
    renderTracking(v);
    tick();
  }

  function renderTracking(v) {
    const s = v.shipment;
    const paid = ["paid", "shipped", "delivered"].includes(v.status);
    show($("tracking"), paid);
    if (!paid) return;
    if (!s) {
      $("tracking-view").replaceChildren(...facts([[t("order.shipment_state"), t("ship.preparing")]]).childNodes);
      $("tracking-history").replaceChildren();
      show($("tracking-overdue"), false);
      $("tracking").dataset.state = "preparing";
      return;
    }
    const rows = [[t("order.shipment_state"), shipText(s.state), { id: "shipment-state" }]];
    if (s.carrier) rows.push([t("order.carrier"), s.carrier, { raw: true, id: "carrier" }]);
    if (s.tracking_no) rows.push([t("order.tracking_no"), s.tracking_no, { raw: true, id: "tracking-no" }]);
    if (s.promised_date) rows.push([t("order.promised"), date(s.promised_date), { id: "promised-date" }]);
    $("tracking-view").replaceChildren(...facts(rows).childNodes);
    $("tracking").dataset.state = s.state;
    show($("tracking-overdue"), !!s.overdue);
    const history = (s.history || []).slice().reverse();   // newest first, like a parcel app
    $("tracking-history").replaceChildren(...history.map((h, i) =>
      el("li", { class: i === 0 ? "now" : null, dataset: { state: h.state } },
        el("b", { text: shipText(h.state) }), " ", el("time", { datetime: h.at, text: dateTime(Date.parse(h.at)) }))));
  }

  /* Every 200 ms: the pay countdown and button from the server's deadline; a refresh when the
     deadline passes or the last one is a few seconds old (until the order cannot change). */
  function tick() {
    const v = o.view;
    const visible = !$("order").hidden;
    const reserved = !!v && v.status === "reserved";
    const left = reserved ? v.pay_before_ms - now() : 0;
    show($("pay-button"), reserved && left > 0);
    show($("pay-countdown"), reserved);
    if (reserved) $("pay-countdown").textContent = left > 0 ? t("order.pay_in", { d: duration(left) }) : t("order.deadline_passed");
    if (!visible || !o.id || o.fetching) return;
    const final = !!v && FINAL.has(v.status);
    const due = Date.now() - o.lastFetch > (reserved && left <= 0 ? 1000 : POLL_MS);
    if (!final && due) refresh();
  }

  async function pay() {
    const b = $("pay-button");
    if (b.disabled || !o.id) return;
    b.disabled = true;
    const res = await api("POST", "/api/orders/" + encodeURIComponent(o.id) + "/pay", { body: { instant: true }, token: app.state.token });
    b.disabled = false;
    if (!res.ok) { o.error = res.error; render(); }
    await refresh();
  }

  // -- My orders --------------------------------------------------------------------------------
  const recentKey = () => "fs_recent:" + (app.state.buyer || "anon");
  function remember(id) {
    const ids = (load(recentKey()) || []).filter((x) => x !== id);
    ids.unshift(id);
    save(recentKey(), ids.slice(0, 10));
  }

  const list = { items: [], loading: false, at: 0 };
  function summary(v) {
    return { order_id: v.order_id, status: v.status, offer_name: (v.offer || {}).offer_name, amount_due: v.amount_due, reserved_at_ms: v.reserved_at_ms };
  }

  async function loadList() {
    if (!app.state.token || list.loading) return;
    list.loading = true;
    list.at = Date.now();
    const res = await api("GET", "/api/orders", { token: app.state.token });
    const items = res.ok ? res.data.orders.slice() : [];
    const listed = new Set(items.map((x) => x.order_id));
    for (const id of load(recentKey()) || []) {
      if (listed.has(id)) continue;
      const one = views.get(id) && FINAL.has(views.get(id).status) ? { ok: true, data: views.get(id) }
        : await api("GET", "/api/orders/" + encodeURIComponent(id), { token: app.state.token });
      if (one.ok) { views.set(id, one.data); items.push(summary(one.data)); }
    }
    for (const x of items) { const v = views.get(x.order_id); if (v && v.status !== x.status && !FINAL.has(x.status)) x.status = v.status; }
    items.sort((a, b) => (b.reserved_at_ms || 0) - (a.reserved_at_ms || 0));
    list.items = items;
    list.loading = false;
    renderList();
  }

  function renderList() {
    show($("my-orders"), !!app.state.token);
    show($("my-orders-link"), !!app.state.token);
    show($("order-list-empty"), list.items.length === 0);
    $("order-list").replaceChildren(...list.items.map((x) =>
      el("li", { dataset: { order: x.order_id, status: x.status } },
        el("a", { href: "#order/" + x.order_id },
          el("span", { raw: true, text: x.offer_name || x.order_id }), " ",
          el("span", { class: "status " + x.status, text: statusText(x.status) }), " ",
          el("span", { text: x.amount_due ? money(x.amount_due.total_fen) : "" }), " ",
          el("small", { class: "muted", text: x.reserved_at_ms ? dateTime(x.reserved_at_ms) : "" })))));
  }

  function listTick() {
    if (app.state.token && Date.now() - list.at > 10000) loadList();
  }

  function close() { o.id = null; o.view = null; show($("order"), false); }

  app.orders = {
    open, refresh, tick, pay, loadList, renderList, listTick, close, views, remember, amountText,
    statusText, render: () => { render(); renderList(); }, current: () => o.id,
  };
})();
