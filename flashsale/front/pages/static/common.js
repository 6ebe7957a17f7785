/* Shared helpers of the pages: JSON API calls, the server clock, formatting, DOM building.
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
      return { ok: false, status: 0, error: { code: "network", message: "network error — check your connection and retry" } };
    }
    const receivedAt = Date.now();
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (data && typeof data.server_time === "number") sync(data.server_time, sentAt, receivedAt);
    if (res.ok) return { ok: true, status: res.status, data, headers: res.headers };
    const error = (data && data.error) || { code: "http_" + res.status, message: "request failed (" + res.status + ")" };
    return { ok: false, status: res.status, error, data };
  }

  // -- formatting ---------------------------------------------------------------------------
  const yuan = (fen) => (fen === null || fen === undefined) ? "—" : "¥" + (fen / 100).toFixed(fen % 100 ? 2 : 0);
  function duration(ms) {
    ms = Math.max(0, ms);
    const s = Math.floor(ms / 1000), d = Math.floor(s / 86400);
    const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, "0");
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    const ss = String(s % 60).padStart(2, "0");
    return (d ? d + "d " : "") + hh + ":" + mm + ":" + ss;
  }
  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  const dateTime = (ms) => new Date(ms).toLocaleString([], { hour12: false });
  function dataAllowance(mb) {
    if (mb === null || mb === undefined) return null;
    return mb >= 1024 && mb % 1024 === 0 ? (mb / 1024) + " GB" : mb + " MB";
  }
  function gift(g) {
    const kinds = { data: "data", credit: "yuan credit", voice: "voice minutes", item: "" };
    return (String(g.amount) + " " + (kinds[g.kind] ?? g.kind)).trim();
  }

  // -- DOM ----------------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
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
  const $ = (id) => document.getElementById(id);
  function show(node, on = true) { node.hidden = !on; }

  function randomKey() {
    if (crypto.randomUUID) return "web-" + crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return "web-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  return { api, now, yuan, duration, clock, dateTime, dataAllowance, gift, el, $, show, randomKey };
})();
