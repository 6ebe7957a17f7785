/* Ops dashboard: polls GET /api/admin/dashboard every second with the admin token (kept in
   sessionStorage), derives reservations/s from successive samples, draws small SVG charts
   (while a round is idle, the curve of its last sale from the server); pause / resume / close
   buttons ask for confirmation, then POST /api/admin/rounds/{id}/{action}. */
"use strict";

(() => {
  const { api, el, $, show, clock } = FS;
  const POLL_MS = 1000;
  const KEEP = 120;
  const SVG = "http://www.w3.org/2000/svg";
  const history = new Map();   // round_id -> [{t, orders, left, rate}]
  const cards = new Map();
  let token = sessionStorage.getItem("fs_admin");
  let timer = null;

  const fmt = (n) => (n === null || n === undefined) ? "—" : Number(n).toLocaleString();

  function authError(msg) {
    $("auth-error").textContent = msg;
    show($("auth-error"));
    show($("auth"));
    show($("dash"), false);
    show($("system"), false);
    show($("forget"), false);
    $("updated").textContent = "not connected";
  }

  async function poll() {
    if (!token) return authError("Admin credential required.");
    const pinned = new URLSearchParams(location.search).get("rounds");
    const path = "/api/admin/dashboard" + (pinned ? "?rounds=" + encodeURIComponent(pinned) : "");
    const res = await api("GET", path, { token });
    if (res.status === 401) {
      stop();
      sessionStorage.removeItem("fs_admin");
      token = null;
      return authError("Refused: " + res.error.message);
    }
    if (!res.ok) { $("updated").textContent = "error: " + res.error.message; return; }
    show($("auth"), false);
    show($("auth-error"), false);
    show($("dash"));
    show($("system"));
    show($("forget"));
    render(res.data);
  }

  function sample(r, t) {
    const h = history.get(r.round_id) || [];
    const prev = h[h.length - 1];
    if (prev && prev.t === t) return h;
    let rate = 0;
    if (prev && t > prev.t) rate = Math.max(0, (r.orders - prev.orders) / ((t - prev.t) / 1000));
    h.push({ t, orders: r.orders, left: r.left, rate });
    if (h.length > KEEP) h.shift();
    history.set(r.round_id, h);
    return h;
  }

  function spark(h, stocked) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 " + KEEP + " 40");
    svg.setAttribute("preserveAspectRatio", "none");
    const maxRate = Math.max(1, ...h.map((s) => s.rate));
    const line = (cls, f) => {
      const p = document.createElementNS(SVG, "polyline");
      p.setAttribute("class", cls);
      p.setAttribute("vector-effect", "non-scaling-stroke");
      p.setAttribute("points", h.map((s, i) => (KEEP - h.length + i) + "," + (38 - 36 * f(s)).toFixed(1)).join(" "));
      svg.append(p);
    };
    line("left", (s) => stocked ? s.left / stocked : 0);
    line("rate", (s) => s.rate / maxRate);
    return svg;
  }

  // While nothing sells, the chart shows the round's last sale (orders per second, from the
  // server) instead of two flat minutes.
  function lastSale(sale) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 " + KEEP + " 40");
    svg.setAttribute("preserveAspectRatio", "none");
    const start = sale.at - (KEEP - 1) * 1000;
    const counts = new Array(KEEP).fill(0);
    for (const [t, n] of sale.per_second) {
      const i = Math.round((t - start) / 1000);
      if (i >= 0 && i < KEEP) counts[i] += n;
    }
    const max = Math.max(1, ...counts);
    const p = document.createElementNS(SVG, "polyline");
    p.setAttribute("class", "rate");
    p.setAttribute("vector-effect", "non-scaling-stroke");
    p.setAttribute("points", counts.map((n, i) => i + "," + (38 - 36 * n / max).toFixed(1)).join(" "));
    svg.append(p);
    return svg;
  }

  const ACTIONS = {
    pause: { label: "Pause", ask: "Pause round %s? Shoppers are refused at once until you resume it." },
    resume: { label: "Resume", ask: "Resume round %s? It sells again at once." },
    close: { label: "Close", ask: "Close round %s for good? It cannot be reopened.", danger: true },
  };

  function controls(r) {
    const box = el("div", { class: "controls" });
    const allowed = r.status === "closed" ? [] : r.status === "paused" ? ["resume", "close"]
      : r.status === "sold_out" ? ["close"] : ["pause", "close"];
    for (const action of allowed) {
      const a = ACTIONS[action];
      const b = el("button", { type: "button", text: a.label, class: a.danger ? "danger" : "" });
      b.addEventListener("click", () => act(r.round_id, action, b));
      box.append(b);
    }
    return box;
  }

  async function act(roundId, action, button) {
    if (!window.confirm(ACTIONS[action].ask.replace("%s", roundId))) return;
    button.disabled = true;
    const res = await api("POST", "/api/admin/rounds/" + encodeURIComponent(roundId) + "/" + action, { token });
    $("action-result").textContent = res.ok
      ? "round " + roundId + ": " + (res.data.changed ? action + " done" : "already " + res.data.status)
      : "round " + roundId + ": " + action + " refused: " + res.error.message;
    button.disabled = false;
    poll();
  }

  function kpi(label, value, id) {
    return el("div", { class: "kpi" }, el("b", { text: value, "data-kpi": id }), el("span", { text: label }));
  }

  function render(d) {
    $("updated").textContent = "updated " + clock(d.server_time);
    $("kafka-lag").textContent = d.kafka_lag === null ? "n/a" : fmt(d.kafka_lag);
    $("outbox-total").textContent = fmt(d.rounds.reduce((a, r) => a + (r.outbox ? r.outbox.length : 0), 0));
    const f = d.fulfillment;
    $("ful-backlog").textContent = f && f.backlog !== null ? fmt(f.backlog) : "n/a";
    const failed = f ? (f.dead_letters || 0) + ((f.shipments || {}).failed || 0) : null;
    $("ful-failures").textContent = f ? fmt(failed) : "n/a";
    $("shipments").textContent = f && f.shipments
      ? "Shipments: " + Object.entries(f.shipments).map(([k, v]) => k + " " + v).join(", ")
      : "Fulfillment not reporting yet.";
    const pk = d.parked;
    $("parked-open").textContent = pk ? fmt(pk.open) : "n/a";
    $("parked-latest").replaceChildren(...(pk ? pk.latest : []).map((e) => el("li", {
      text: "#" + e.id + " " + e.process + ": " + e.reason + (e.order_id ? " (order " + e.order_id + ")" : e.round_id ? " (round " + e.round_id + ")" : ""),
    })));
    const seen = new Set();
    for (const r of d.rounds) {
      seen.add(r.round_id);
      const h = sample(r, d.server_time);
      const rate = h[h.length - 1].rate;
      const p = r.persisted;
      const persisted = p === null ? "n/a" : Object.values(p).reduce((a, b) => a + b, 0);
      const byStatus = p === null ? "PostgreSQL unavailable"
        : Object.entries(p).map(([k, v]) => k + " " + v).join(", ") || "none yet";
      const body = [
        el("header", {}, el("h3", { text: r.name || r.round_id }),
          el("span", { class: "badge " + (r.stage || r.status), text: (r.stage || r.status).replace("_", " ") })),
        el("p", { class: "muted" }, el("code", { text: r.round_id })),
        controls(r),
        el("div", { class: "kpis" },
          kpi("units left of " + fmt(r.stocked), fmt(r.left), "left"),
          kpi("reservations/s", rate.toFixed(1), "rate"),
          kpi("paid units", fmt(r.paid), "paid"),
          kpi("expired / released", fmt(r.released), "released"),
          kpi("held (unpaid)", fmt(r.held), "held"),
          kpi("orders acknowledged", fmt(r.orders), "orders"),
          kpi("orders persisted", fmt(persisted), "persisted"),
          kpi("outbox backlog", fmt(r.outbox ? r.outbox.length : null), "outbox")),
        el("p", { class: "muted", text: "In PostgreSQL: " + byStatus }),
        ...chart(r, h),
      ];
      let card = cards.get(r.round_id);
      if (!card) {
        card = el("article", { class: "card", dataset: { round: r.round_id } });
        cards.set(r.round_id, card);
        $("rounds").append(card);
      }
      card.replaceChildren(...body);
    }
    for (const [rid, card] of cards) if (!seen.has(rid)) { card.remove(); cards.delete(rid); history.delete(rid); }
  }

  function chart(r, h) {
    const idle = h.every((s) => s.rate === 0);
    if (!idle || !r.last_sale) return [spark(h, r.stocked)];
    return [lastSale(r.last_sale), el("p", { class: "muted spark-note",
      text: "idle: last sale " + clock(r.last_sale.at) + " (" + fmt(r.last_sale.orders) + " orders in its last 2 minutes)" })];
  }

  function start() { stop(); poll(); timer = setInterval(poll, POLL_MS); }
  function stop() { if (timer) clearInterval(timer); timer = null; }

  document.addEventListener("DOMContentLoaded", () => {
    $("auth-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      token = $("token").value.trim();
      $("token").value = "";
      sessionStorage.setItem("fs_admin", token);
      start();
    });
    $("forget").addEventListener("click", () => {
      stop();
      sessionStorage.removeItem("fs_admin");
      token = null;
      authError("Token forgotten.");
    });
    if (token) start(); else show($("auth"));
  });
})();
