/* The buy form of one round: after the waiting room (queue.js) and the browser check, the number
   choice (a chosen number stays chosen when other numbers are shown), the real-name fields, the
   agreement (its full text one tap away), then a confirmation sheet with exactly what is bought
   (offer, plan terms, gifts, number, address, agreement, price + surcharge = total) before the
   reservation. One Idempotency-Key per purchase attempt, reused on retries. The button, hint and
   result derive from the server's round and order state on every tick. */
"use strict";

(() => {
  const { api, now, t, $, show, el, facts, money, duration, randomKey } = FS;
  const app = FS.app;
  const RETRIABLE = new Set(["network", "unavailable", "rate_limited", "internal", "paused"]);
  const RELEASED = new Set(["expired", "cancelled"]);
  const f = {
    rid: null, key: null, busy: false, reserved: null, error: null, number: null, numbers: [],
    admission: null, ready: false, shownSig: "",
  };

  const round = () => (f.rid ? app.state.rounds.get(f.rid) : null);

  function open(rid) {
    const r = app.state.rounds.get(rid);
    if (!r) return;
    if (f.rid !== rid) {
      Object.assign(f, { rid, key: randomKey(), reserved: null, error: null, number: null, numbers: [], admission: null, ready: false, shownSig: "" });
      app.pow.leave();
    }
    if (location.hash !== "#buy/" + rid) history.replaceState(null, "", "#buy/" + rid);
    app.renderWho();
    if (!app.state.token) { showForm(); $("login").scrollIntoView({ block: "start" }); return; }
    enter();
  }

  /* Logged in: the waiting room first (if the round has one), then the form. */
  function enter() {
    if (!f.rid || !app.state.token) return;
    if (f.ready) { showForm(); return; }
    const rid = f.rid;
    app.queue.enter(rid, (token) => {
      if (f.rid !== rid) return;
      f.admission = token;
      f.ready = true;
      showForm();
      app.pow.prepare(rid);
    });
  }

  function showForm() {
    const r = round();
    if (!r) return;
    show($("buy"));
    render();
    if (r.number_choice && !f.numbers.length) loadNumbers();
    $("buy").scrollIntoView({ block: "start" });
  }

  function render() {
    const r = round();
    if (!r) return;
    $("buy-title").replaceChildren(el("span", { text: t("buy.title") }), el("span", { raw: true, text: app.offerName(r) }));
    $("buy-terms").replaceChildren(app.terms(r.offer || {}, r));
    $("agreement-version").textContent = r.agreement_version || (r.offer || {}).agreement_version || "";
    show($("numbers-box"), !!r.number_choice);
    renderNumbers();
    f.shownSig = "";
    update();
  }

  // -- numbers ------------------------------------------------------------------------------------
  async function loadNumbers() {
    const rid = f.rid;
    const res = await api("GET", "/api/rounds/" + encodeURIComponent(rid) + "/numbers?limit=12");
    if (rid !== f.rid) return;
    if (!res.ok) { f.numbers = []; f.numbersError = res.error; renderNumbers(); return; }
    f.numbersError = null;
    f.numbers = res.data.numbers;
    $("numbers").dataset.loads = String(Number($("numbers").dataset.loads || 0) + 1);
    renderNumbers();
  }

  function renderNumbers() {
    const box = $("numbers");
    const list = f.numbers.slice();
    // The chosen number stays in the list (and chosen) whatever sample comes next.
    if (f.number && !list.some((n) => n.number === f.number.number)) list.unshift(f.number);
    if (f.numbersError) { box.replaceChildren(el("p", { class: "error", text: FS.errorText(f.numbersError).message })); }
    else if (!list.length) { box.replaceChildren(el("p", { class: "muted", text: t("buy.no_numbers") })); }
    else {
      box.replaceChildren(...list.map((n) =>
        el("label", { class: "number" + (f.number && f.number.number === n.number ? " chosen" : "") },
          el("input", {
            type: "radio", name: "number", value: n.number,
            checked: !!(f.number && f.number.number === n.number),
            onchange: () => { f.number = n; renderNumbers(); },
          }),
          el("span", { text: FS.spacedNumber(n.number) }),
          n.surcharge_fen ? el("small", { text: " " + t("buy.surcharge", { x: money(n.surcharge_fen) }) }) : null)));
    }
    show($("chosen-number"), !!f.number);
    if (f.number) $("chosen-number").textContent = t("buy.chosen", { n: FS.spacedNumber(f.number.number) }) + " " + t("buy.chosen_kept");
  }

  // -- the button, hint and result, from server state -------------------------------------------
  function update() {
    const b = $("buy-button");
    const r = round();
    if (!r) { b.disabled = true; return; }
    const p = app.phase(r);
    const order = f.reserved ? app.orders.views.get(f.reserved) : null;
    if (order && RELEASED.has(order.status)) {
      // The hold ran out (or was cancelled): the units went back; this shopper may buy again.
      f.released = order.status;
      f.reserved = null;
      f.key = randomKey();
    }
    const proof = app.pow.header(f.rid);
    let label = t("buy.submit"), hint = "";
    if (f.reserved) {
      const st = order ? order.status : "reserved";
      label = st === "reserved" ? t("buy.reserved_btn") : t("buy.bought_btn");
      hint = st === "reserved" ? t("buy.reserved_hint") : "";
    } else if (p === "upcoming") { label = t("buy.starts_btn", { d: duration(r.starts_at - now()) }); hint = t("buy.starts_hint"); }
    else if (p === "sold_out") { label = t("btn.sold_out"); hint = t("buy.sold_out_hint"); }
    else if (p === "ended") label = t("btn.ended");
    else if (p === "paused") { label = t("btn.paused"); hint = t("buy.paused_hint"); }
    else if (!app.state.token) hint = t("login.needed");
    else if (proof === "") hint = t("buy.verifying_hint");
    if (f.busy) label = t("buy.buying");
    b.textContent = label;
    b.disabled = f.busy || !!f.reserved || p !== "live" || !app.state.token || !f.ready || proof === "";
    b.dataset.phase = p;
    $("buy-hint").textContent = hint;
    const admittedUntil = f.admission && !f.reserved ? app.queue.expiresAt(f.rid) : 0;
    show($("admitted"), admittedUntil > now());
    if (admittedUntil > now()) $("admitted").textContent = t("queue.admitted", { d: duration(admittedUntil - now()) });
    renderResult(order);
  }

  function renderResult(order) {
    const box = $("result");
    let sig, build;
    if (f.reserved) {
      const st = order ? order.status : "reserved";
      sig = "ok:" + f.reserved + ":" + st + ":" + FS.lang();
      build = () => {
        const kids = [el("strong", { text: st === "reserved" ? t("result.reserved") : t("status." + st) }),
          el("p", {}, t("result.order_no") + " ", el("code", { raw: true, text: f.reserved }), " " + t("result.held"))];
        if (st === "reserved") kids.push(el("p", { class: "deadline", id: "result-deadline" }));
        else kids.push(el("p", { text: t("result.paid") }));
        kids.push(el("p", {}, el("a", { href: "#order/" + f.reserved, text: t("result.view_order") })));
        return kids;
      };
      box.className = "result ok";
      box.dataset.code = st === "reserved" ? "reserved" : st;
    } else if (f.released) {
      sig = "released:" + f.released + ":" + FS.lang();
      build = () => [el("strong", { text: t("status." + f.released) }), el("p", { text: t("result." + f.released) })];
      box.className = "result error";
      box.dataset.code = f.released;
    } else if (f.error) {
      const w = FS.errorText(f.error);
      sig = "err:" + f.error.code + ":" + (f.error.field || "") + ":" + FS.lang();
      build = () => [el("strong", { text: w.headline || t("result.not_bought") }), el("p", { text: w.message })];
      box.className = "result error " + f.error.code;
      box.dataset.code = f.error.code;
    } else { show(box, false); f.shownSig = ""; return; }
    if (sig !== f.shownSig) { box.replaceChildren(...build()); f.shownSig = sig; }
    const dl = $("result-deadline");
    if (dl && order) dl.textContent = t("result.pay_before", { t: FS.clock(order.pay_before_ms), d: duration(order.pay_before_ms - now()) });
    else if (dl && f.payBefore) dl.textContent = t("result.pay_before", { t: FS.clock(f.payBefore), d: duration(f.payBefore - now()) });
    show(box);
  }

  // -- confirmation --------------------------------------------------------------------------------
  function fail(code, message, field) { f.error = { code, message, field }; f.released = null; f.shownSig = ""; update(); }

  function submit(ev) {
    ev.preventDefault();
    const r = round();
    if (f.busy || f.reserved || !r || app.phase(r) !== "live" || !app.state.token) return;
    const missing = ["real-name", "id-number", "address"].find((id) => !$(id).value.trim());
    if (missing) return fail("invalid_request", t("buy.fill", { field: t("field." + $(missing).name) }), $(missing).name);
    if (r.number_choice && !f.number) return fail("invalid_request", t("buy.pick_first"), "number");
    if (!$("agree").checked) return fail("invalid_request", t("buy.accept_first"), "agreement_version");
    f.error = null;
    openConfirm(r);
  }

  function maskedId(id) { return id.length > 8 ? id.slice(0, 4) + "*".repeat(id.length - 8) + id.slice(-4) : "****"; }

  /* Exactly what is being bought, and what it costs: price + surcharge = total. */
  function confirmFigures(r) {
    const offer = r.offer || {};
    const price = (offer.price_fen || 0) * 1;
    const fee = f.number ? f.number.surcharge_fen || 0 : 0;
    return { price_fen: price, surcharge_fen: fee, total_fen: price + fee };
  }

  function openConfirm(r) {
    if ($("confirm").open) return;
    const offer = r.offer || {};
    const version = r.agreement_version || offer.agreement_version || "";
    const rows = [
      [t("confirm.offer"), app.offerName(r), { raw: true }],
      [t("confirm.number"), f.number ? FS.spacedNumber(f.number.number) : t("confirm.number_assigned"), { id: "confirm-number" }],
      [t("confirm.name"), $("real-name").value.trim(), { raw: true }],
      [t("confirm.id"), maskedId($("id-number").value.trim().toUpperCase()), { raw: true }],
      [t("confirm.address"), $("address").value.trim(), { raw: true, id: "confirm-address" }],
    ];
    const view = $("confirm-view");
    view.replaceChildren(...facts(rows).childNodes);
    const terms = app.terms(offer, r);
    view.append(...terms.childNodes);
    view.append(el("dt", { text: t("confirm.agreement") }), el("dd", {},
      el("span", { raw: true, text: version }), " ",
      el("button", { type: "button", class: "link", id: "confirm-read", text: t("buy.read_agreement"), onclick: openAgreement })));
    const a = confirmFigures(r);
    $("confirm-total").replaceChildren(el("span", { text: t("confirm.amount") + " " }),
      el("b", { id: "confirm-amount", dataset: { total: a.total_fen }, text: app.orders.amountText(a) }));
    $("confirm").showModal();
  }

  async function openAgreement() {
    const r = round();
    if (!r) return;
    const version = r.agreement_version || (r.offer || {}).agreement_version || "";
    $("agreement-meta").replaceChildren(t("agreement.version") + " ", el("span", { raw: true, text: version }));
    $("agreement-text").replaceChildren(el("p", { class: "muted", text: t("agreement.loading") }));
    $("agreement").showModal();
    const res = await api("GET", "/api/rounds/" + encodeURIComponent(r.round_id) + "/agreement");
    const text = res.ok ? res.data.text : null;
    $("agreement-text").replaceChildren(text
      ? el("div", { raw: true, id: "agreement-body", text })
      : el("p", { class: "muted", text: res.ok ? t("agreement.missing") : FS.errorText(res.error).message }));
  }

  // -- reserving -----------------------------------------------------------------------------------
  async function reserve() {
    if ($("confirm").open) $("confirm").close();
    const r = round();
    // Confirmed on a sheet opened while on sale: the server decides (sold out meanwhile, or not).
    if (f.busy || f.reserved || !r || !["live", "sold_out"].includes(app.phase(r)) || !app.state.token) return;
    const proof = app.pow.header(f.rid);
    if (proof === "") return;
    f.busy = true;
    f.released = null;
    update();
    const body = {
      quantity: 1,
      real_name: $("real-name").value.trim(),
      id_number: $("id-number").value.trim().toUpperCase(),
      address: $("address").value.trim(),
      agreement_version: r.agreement_version || (r.offer || {}).agreement_version,
      channel: window.matchMedia("(max-width: 640px)").matches ? "mobile" : "web",
    };
    if (f.number) body.number = f.number.number;
    const headers = { "Idempotency-Key": f.key };
    if (f.admission) headers["X-Admission-Token"] = f.admission;
    if (proof) headers["X-PoW"] = proof;
    const rid = f.rid;
    let res;
    try {
      res = await api("POST", "/api/rounds/" + encodeURIComponent(rid) + "/orders", { body, token: app.state.token, headers });
    } finally {
      f.busy = false;
    }
    if (rid !== f.rid) return;
    if (res.ok) {
      f.reserved = res.data.order_id;
      f.payBefore = res.data.pay_before;
      f.error = null;
      app.pow.spent(rid);
      app.orders.remember(res.data.order_id);
      app.orders.open(res.data.order_id);
      app.orders.loadList();
    } else {
      const code = res.error.code;
      // A retriable failure keeps the key (a retry can never buy twice); a definitive refusal
      // gets a fresh key so that a corrected form is a new attempt.
      if (!RETRIABLE.has(code)) { f.key = randomKey(); app.pow.spent(rid); }
      if (code === "unauthorized") app.logout();
      if (code === "number_taken") { f.number = null; loadNumbers(); }
      if (code === "admission_required") { app.queue.lost(rid); f.ready = false; f.admission = null; enter(); }
      f.error = res.error;
    }
    f.shownSig = "";
    update();
  }

  function close() { f.rid = null; show($("buy"), false); app.queue.stop(); app.pow.leave(); }

  app.buy = {
    open, enter, update, render, close, submit, reserve, loadNumbers, openAgreement,
    selected: () => f.rid, figures: () => (round() ? confirmFigures(round()) : null),
  };
})();
