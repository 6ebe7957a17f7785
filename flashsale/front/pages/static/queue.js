/* The waiting room and the browser check of a round (flashsale/front/admission).

   queue.enter(round, admitted): joins the round's waiting room (before the start too; joining
   again keeps the place), shows the position, an estimated wait and a progress bar, refreshes
   itself and, once admitted, keeps the signed admission token in localStorage (a reload goes
   straight on while it is valid) and calls admitted(token). A round without a waiting room calls
   admitted(null) at once.
   pow.prepare(round): when the round asks for proof of work, fetches a challenge and solves it
   in a Web Worker (pow-worker.js) behind a visible "verifying your browser" step; pow.header()
   is the X-PoW value for the order, pow.spent() starts on the next one. */
"use strict";

(() => {
  const { api, now, t, $, show, load, save, waitText, duration } = FS;
  const app = FS.app;
  const MIN_POLL = 1500, MAX_POLL = 10000, BEFORE_POLL = 5000;

  const who = () => (app.state.buyer || "anon");
  const tokenKey = (rid) => "fs_adm:" + who() + ":" + rid;
  const placeKey = (rid) => "fs_queue:" + who() + ":" + rid;
  const path = (rid) => "/api/rounds/" + encodeURIComponent(rid);

  // -- waiting room -------------------------------------------------------------------------
  const q = { rid: null, admitted: null, timer: null, view: null, startsAt: null, error: null };

  function kept(rid) {
    const s = load(tokenKey(rid));
    return s && s.token && s.exp * 1000 > now() + 5000 ? s.token : null;
  }

  function stop() {
    clearTimeout(q.timer);
    q.timer = null;
    q.rid = null;
    q.view = null;
    show($("queue"), false);
  }

  function enter(rid, admitted) {
    stop();
    const token = kept(rid);
    if (token) { admitted(token); return; }
    q.rid = rid;
    q.admitted = admitted;
    look(true);
  }

  async function look(join) {
    const rid = q.rid;
    if (!rid) return;
    const res = await api(join ? "POST" : "GET", path(rid) + "/queue", { token: app.state.token });
    if (rid !== q.rid) return;   // left meanwhile
    if (!res.ok) {
      const code = res.error.code;
      if (code === "unauthorized") { stop(); app.logout(); return; }
      if (code === "not_found" && !join) { look(true); return; }   // the place is gone: join again
      if (code === "not_found") { done(null); return; }   // the round has no waiting room state
      q.error = res.error;
      render();
      schedule((res.retryAfter || 5) * 1000);
      return;
    }
    q.error = null;
    const v = res.data;
    if (v.state === "off") { done(null); return; }
    if (v.state === "admitted" && v.token) {
      save(tokenKey(rid), { token: v.token, exp: v.token_expires_at });
      done(v.token);
      return;
    }
    q.view = v;
    q.startsAt = v.state === "before" ? now() + (v.starts_in_ms || 0) : null;
    if (v.state === "queued") {
      const place = load(placeKey(rid)) || {};
      if (!place.first || v.position > place.first) save(placeKey(rid), { first: v.position });
    }
    render();
    schedule(interval(v));
  }

  function interval(v) {
    const jitter = Math.random() * 400;
    if (v.state === "before") return Math.min(BEFORE_POLL, Math.max(300, q.startsAt - now() + 100)) + jitter;
    const wait = v.estimated_wait_ms;
    return Math.min(MAX_POLL, Math.max(MIN_POLL, wait ? wait / 2 : 5000)) + jitter;
  }

  function schedule(ms) {
    clearTimeout(q.timer);
    q.timer = setTimeout(() => look(false), ms);
  }

  function done(token) {
    const admitted = q.admitted;
    stop();
    if (admitted) admitted(token);
  }

  function render() {
    const v = q.view;
    const appearing = $("queue").hidden;
    show($("queue"), true);
    show($("buy"), false);
    const r = app.state.rounds.get(q.rid);
    $("queue-offer").textContent = r ? app.offerName(r) : "";
    $("queue-offer").dataset.raw = "";
    $("queue").dataset.state = v ? v.state : "error";
    const before = !!v && v.state === "before";
    const queued = !!v && v.state === "queued";
    show($("queue-before"), before);
    show($("queue-countdown"), before);
    show($("queue-position"), queued);
    show($("queue-wait"), queued);
    show($("queue-length"), queued && v.queue_length > 0);
    if (queued) {
      $("queue-position").textContent = v.position <= 1 ? t("queue.next") : t("queue.position", { n: v.position - 1 });
      $("queue-position").dataset.position = v.position;
      $("queue-wait").textContent = t("queue.wait", { w: waitText(v.estimated_wait_ms) });
      $("queue-length").textContent = t("queue.length", { n: v.queue_length });
    }
    const first = (load(placeKey(q.rid)) || {}).first || 0;
    const pct = !queued ? 0 : first <= 1 ? 95 : Math.round(100 * (first - v.position) / (first - 1));
    const bar = Math.max(queued ? 3 : 0, Math.min(99, pct));
    $("queue-bar").style.width = bar + "%";
    $("queue-progress").setAttribute("aria-valuenow", String(bar));
    show($("queue-error"), !!q.error);
    if (q.error) $("queue-error").textContent = FS.errorText(q.error).message;
    if (appearing) $("queue").scrollIntoView({ block: "start" });
    tick();
  }

  function tick() {
    if (!q.rid || !q.startsAt) return;
    $("queue-countdown").textContent = t("queue.starts_in", { d: duration(q.startsAt - now()) });
  }

  /* The buy request was refused for want of a (valid) admission token: queue again. */
  function lost(rid) { save(tokenKey(rid), null); }

  const active = () => q.rid !== null;
  const expiresAt = (rid) => { const s = load(tokenKey(rid)); return s && s.exp ? s.exp * 1000 : 0; };
  app.queue = { enter, stop, tick, lost, active, expiresAt, render: () => { if (q.rid) render(); } };

  // -- proof of work --------------------------------------------------------------------------
  const p = { rid: null, state: "none", proof: null, exp: 0, worker: null, seq: 0 };

  function powStep() {
    const node = $("pow-step");
    show(node, p.state !== "none");
    node.dataset.state = p.state;
    node.textContent = p.state === "verifying" ? t("pow.verifying") : p.state === "done" ? "✓ " + t("pow.done")
      : p.state === "failed" ? t("pow.failed") : "";
  }

  async function prepare(rid) {
    const seq = ++p.seq;
    if (p.worker) { p.worker.terminate(); p.worker = null; }
    Object.assign(p, { rid, state: "none", proof: null, exp: 0 });
    const res = await api("GET", path(rid) + "/challenge", { token: app.state.token });
    if (seq !== p.seq) return;
    if (!res.ok) {
      p.state = "failed";
      powStep();
      setTimeout(() => { if (seq === p.seq) prepare(rid); }, (res.retryAfter || 3) * 1000);
      return;
    }
    const c = res.data;
    if (!c.required) { p.state = "none"; powStep(); app.changed(); return; }
    p.state = "verifying";
    powStep();
    app.changed();
    const worker = new Worker("/static/pow-worker.js");
    p.worker = worker;
    worker.onmessage = (ev) => {
      worker.terminate();
      if (seq !== p.seq) return;
      p.worker = null;
      if (ev.data.error) { p.state = "failed"; powStep(); setTimeout(() => { if (seq === p.seq) prepare(rid); }, 2000); return; }
      p.proof = c.challenge + "." + ev.data.solution;
      p.exp = c.expires_at * 1000;
      p.state = "done";
      powStep();
      app.changed();
      // A challenge expires: solve the next one a little before.
      setTimeout(() => { if (seq === p.seq && !p.inFlight) prepare(rid); }, Math.max(1000, p.exp - now() - 15000));
    };
    worker.postMessage({ challenge: c.challenge, bits: c.difficulty });
  }

  /* null: nothing needed; "": not ready yet; else the X-PoW header value. */
  function header(rid) {
    if (p.rid !== rid || p.state === "none") return null;
    return p.state === "done" && p.exp > now() + 2000 ? p.proof : "";
  }

  /* The proof answered a definitive outcome: it is spent, solve the next. */
  function spent(rid) { if (p.rid === rid && p.state !== "none") prepare(rid); }
  function leave() { p.seq++; if (p.worker) p.worker.terminate(); Object.assign(p, { rid: null, state: "none", worker: null }); powStep(); }

  app.pow = { prepare, header, spent, leave, render: powStep };
})();
