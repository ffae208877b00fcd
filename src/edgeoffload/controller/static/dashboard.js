// edgeoffload dashboard: follows /api/stream (server-sent events read with fetch, so
// that a token goes in a header, never in a URL), redraws the nodes, the SVG charts
// and the event log, and drains or resumes nodes. Plain JavaScript, no build step,
// nothing loaded from another site.
"use strict";

const CONFIG = JSON.parse(document.body.dataset.config);
const TOKEN_KEY = "edgeoffload.token";
const MAX_EVENTS = 1000;
const SERIES_COLUMNS = { ts: 0, completed: 1, failed: 2, p95: 3, queue: 4, running: 5 };

const state = {
  nodes: new Map(),     // node_id -> NodeView
  latest: new Map(),    // node_id -> {ts, metrics}
  series: new Map(),    // node_id -> [[ts, completed, failed, p95, queue, running], ...]
  share: [],            // [[bucket_ts, local, edge], ...]
  shareBucket: 5,
  events: [],           // oldest first
  canWrite: false,
  historyS: 600,
  clockSkew: 0,         // server time - browser time, seconds
};

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const now = () => Date.now() / 1000 + state.clockSkew;
const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
const authHeaders = () => (token() ? { Authorization: "Bearer " + token() } : {});

// -- formatting (format_value in web.py does the same) ----------------------------------

function formatValue(value, kind) {
  if (value === null || value === undefined) return "–";
  let v = Number(value);
  if (kind === "bytes" || kind === "bps") {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    const text = i === 0 || v >= 100 ? v.toFixed(0) + " " + units[i] : v.toFixed(1) + " " + units[i];
    return text + (kind === "bps" ? "/s" : "");
  }
  if (kind === "pct") return v.toFixed(0) + " %";
  if (kind === "int") return v.toFixed(0);
  if (kind === "ms") {
    if (v < 1) return +v.toPrecision(2) + " ms";
    return v < 100 ? v.toFixed(1) + " ms" : v.toFixed(0) + " ms";
  }
  if (kind === "celsius") return v.toFixed(0) + " °C";
  return v < 100 ? v.toFixed(1) : v.toFixed(0);
}

// -- nodes ------------------------------------------------------------------------------

function nodeIds() { return [...state.nodes.keys()].sort(); }
function colour(id) { return "c" + (nodeIds().indexOf(id) % 8); }

// A node's card in two parts, each redrawn only when it changed: its header (and the
// button in it, which must stay put under a pointer) and its body (metrics, every beat).
function nodeHead(v) {
  let button = "";
  if (state.canWrite && v.state !== "dead" && v.state !== "left") {
    button = v.draining
      ? `<button class="resume" data-action="resume" data-node="${esc(v.node_id)}">Resume</button>`
      : `<button class="drain" data-action="drain" data-node="${esc(v.node_id)}">Drain</button>`;
  }
  const draining = v.draining ? '<span class="badge draining">draining</span>' : "";
  const reason = v.draining && v.drain_reason ? `<p class="reason">${esc(v.drain_reason)}</p>` : "";
  return `<header><i class="${colour(v.node_id)}"></i><h3>${esc(v.node_id)}</h3>` +
    `<span class="badge state-${v.state}">${v.state}</span>${draining}${button}</header>${reason}`;
}

function workers(n) { return n === 1 ? "1 worker" : `${n} workers`; }

function nodeBody(v) {
  const latest = state.latest.get(v.node_id);
  const m = latest ? latest.metrics : null;
  const labels = Object.keys(v.labels).sort()
    .map((k) => `<li>${esc(k)}=${esc(v.labels[k])}</li>`).join("");
  const cells = CONFIG.metrics.map(([name, label, kind]) =>
    `<div><dt>${label}</dt><dd data-metric="${name}">${esc(m ? formatValue(m[name], kind) : "–")}</dd></div>`
  ).join("");
  const silent = now() - v.last_seen;
  const seen = v.state !== "alive" && v.last_seen ? ` · last heartbeat ${silent.toFixed(0)} s ago` : "";
  return `<p class="url">${esc(v.url)} · ${workers(v.cores)}${seen}</p>` +
    `<ul class="labels">${labels}</ul><dl class="metrics">${cells}</dl>`;
}

const cards = new Map();  // node_id -> {el, head, body}

function drawNodes() {
  const views = nodeIds().map((id) => state.nodes.get(id));
  const container = $("nodes");
  if (!views.length) {
    container.innerHTML = '<p class="empty">No node has registered yet.</p>';
    cards.clear();
  } else {
    if (!cards.size) container.innerHTML = "";  // the server's rendering, or the empty note
    for (const [id, card] of cards) {  // gone from a new snapshot (a controller's new store)
      if (!state.nodes.has(id)) { card.el.remove(); cards.delete(id); }
    }
    for (const v of views) {
      let card = cards.get(v.node_id);
      if (!card) {
        const el = document.createElement("article");
        el.className = "node";
        el.dataset.node = v.node_id;
        el.append(document.createElement("div"), document.createElement("div"));
        card = { el, head: "", body: "" };
        cards.set(v.node_id, card);
      }
      container.append(card.el);  // keeps the order sorted (a move, not a copy)
      card.el.dataset.state = v.state;
      card.el.dataset.draining = String(v.draining);
      const head = nodeHead(v), body = nodeBody(v);
      if (head !== card.head) { card.el.children[0].innerHTML = head; card.head = head; }
      if (body !== card.body) { card.el.children[1].innerHTML = body; card.body = body; }
    }
  }
  const counts = { alive: 0, suspect: 0, dead: 0, left: 0, draining: 0 };
  for (const v of views) { counts[v.state]++; if (v.draining) counts.draining++; }
  $("summary").innerHTML = Object.entries(counts)
    .map(([k, n]) => `<span class="count state-${k}"><b>${n}</b> ${k}</span>`).join(" ");
  const select = $("event-node");
  const options = '<option value="">all</option>' + views.map((v) => `<option>${esc(v.node_id)}</option>`).join("");
  if (select.dataset.options !== options) {
    const chosen = select.value;
    select.innerHTML = options;
    select.dataset.options = options;
    select.value = chosen;
  }
}

async function nodeAction(action, nodeId) {
  const body = action === "drain" ? JSON.stringify({ reason: "drained from the dashboard" }) : null;
  const r = await fetch(`api/nodes/${encodeURIComponent(nodeId)}/${action}`, {
    method: "POST",
    headers: { ...authHeaders(), ...(body ? { "Content-Type": "application/json" } : {}) },
    body,
  });
  if (r.ok) {
    const view = await r.json();
    state.nodes.set(view.node_id, view);
    schedule();
  } else {
    const error = await r.json().catch(() => ({ message: r.statusText }));
    notice(`${action} ${nodeId}: ${r.status} ${error.message}`);
  }
}

// -- charts (plain SVG) -----------------------------------------------------------------

const W = 480, H = 170, PAD_L = 40, PAD_R = 8, PAD_T = 8, PAD_B = 20;

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// lines: [{cls, points: [[t, v], ...], total?}]; returns the largest value drawn.
function drawChart(svg, lines, windowS, yMaxFixed) {
  const t1 = now(), t0 = t1 - windowS;
  let max = 0;
  for (const line of lines) for (const [t, v] of line.points) if (t >= t0 && v > max) max = v;
  const yMax = yMaxFixed || niceMax(max);
  const x = (t) => PAD_L + ((t - t0) / windowS) * (W - PAD_L - PAD_R);
  const y = (v) => H - PAD_B - (v / yMax) * (H - PAD_T - PAD_B);
  let out = "";
  for (const f of [0, 0.5, 1]) {
    const v = yMax * f, yy = y(v).toFixed(1);
    out += `<line class="grid" x1="${PAD_L}" x2="${W - PAD_R}" y1="${yy}" y2="${yy}"/>`;
    out += `<text class="axis" x="${PAD_L - 4}" y="${yy}" dy="3" text-anchor="end">${+v.toPrecision(3)}</text>`;
  }
  for (const f of [0, 0.5, 1]) {
    const label = f === 1 ? "now" : `-${Math.round(windowS * (1 - f))}s`;
    out += `<text class="axis" x="${x(t0 + windowS * f).toFixed(1)}" y="${H - 5}" ` +
      `text-anchor="${f === 0 ? "start" : f === 1 ? "end" : "middle"}">${label}</text>`;
  }
  for (const line of lines) {
    const pts = line.points.filter(([t]) => t >= t0 - 2)
      .map(([t, v]) => `${x(Math.max(t, t0)).toFixed(1)},${y(Math.min(v, yMax)).toFixed(1)}`);
    if (pts.length) out += `<polyline class="${line.cls}" points="${pts.join(" ")}"/>`;
  }
  svg.innerHTML = out;
  svg.dataset.max = String(max);
  svg.dataset.points = String(lines.reduce((n, l) => n + l.points.filter(([t]) => t >= t0).length, 0));
  return max;
}

function column(id, col) {
  return (state.series.get(id) || [])
    .filter((p) => p[col] !== null)
    .map((p) => [p[SERIES_COLUMNS.ts], p[col]]);
}

// The site's total of a column at each sample: every node's last value, summed, but
// for nodes silent for more than STALE_BEATS of their heartbeat periods (a dead node
// stops counting at once, not after a fixed delay).
const STALE_BEATS = 3;
function period(series) {
  return series.length > 1 ? (series[series.length - 1][0] - series[0][0]) / (series.length - 1) : 1;
}
function total(col) {
  const samples = [], stale = new Map();
  for (const id of nodeIds()) {
    const series = state.series.get(id) || [];
    stale.set(id, STALE_BEATS * period(series));
    for (const p of series) samples.push([p[0], id, p[col] || 0]);
  }
  samples.sort((a, b) => a[0] - b[0]);
  const last = new Map();
  return samples.map(([t, id, v]) => {
    last.set(id, [t, v]);
    let sum = 0;
    for (const [node, [ts, value]] of last) if (t - ts <= stale.get(node)) sum += value;
    return [t, sum];
  });
}

function drawCharts() {
  const windowS = Number($("window").value);
  const ids = nodeIds();
  const per = (col) => ids.map((id) => ({ cls: colour(id), points: column(id, col) }));
  const tput = total(SERIES_COLUMNS.completed);
  drawChart($("chart-throughput"), [...per(SERIES_COLUMNS.completed), { cls: "total", points: tput }], windowS);
  drawChart($("chart-latency"), per(SERIES_COLUMNS.p95), windowS);
  drawChart($("chart-queue"), per(SERIES_COLUMNS.queue), windowS);
  // A step per bucket: the share of the tasks clients completed in it.
  const width = state.shareBucket, t1 = now();
  const share = state.share.filter(([, l, e]) => l + e > 0)
    .flatMap(([t, l, e]) => [[t, (100 * e) / (l + e)], [Math.min(t + width, t1), (100 * e) / (l + e)]]);
  drawChart($("chart-share"), [{ cls: "c0", points: share }], windowS, 100);
  const lastOf = (points) => (points.length ? points[points.length - 1][1] : null);
  $("now-throughput").textContent = tput.length ? formatValue(lastOf(tput), "rate") + " /s" : "";
  const p95s = ids.map((id) => lastOf(column(id, SERIES_COLUMNS.p95))).filter((v) => v !== null);
  $("now-latency").textContent = p95s.length ? "max " + formatValue(Math.max(...p95s), "ms") : "";
  const queue = total(SERIES_COLUMNS.queue);
  $("now-queue").textContent = queue.length ? formatValue(lastOf(queue), "int") + " queued" : "";
  $("now-share").textContent = share.length ? formatValue(lastOf(share), "pct") : "";
  $("legend").innerHTML = ids.map((id) => `<li><i class="${colour(id)}"></i>${esc(id)}</li>`).join("") +
    '<li><i class="total-swatch"></i>dashed: site total</li>';
}

// -- events -----------------------------------------------------------------------------

function drawEvents() {
  const kinds = new Set([...document.querySelectorAll('input[name="kind"]:checked')].map((i) => i.value));
  const node = $("event-node").value;
  const text = $("event-text").value.toLowerCase();
  const rows = [];
  for (let i = state.events.length - 1; i >= 0 && rows.length < 200; i--) {
    const e = state.events[i];
    if (!kinds.has(e.kind) || (node && e.node_id !== node)) continue;
    if (text && !`${e.kind} ${e.node_id} ${e.detail}`.toLowerCase().includes(text)) continue;
    const time = new Date(e.ts * 1000).toLocaleTimeString([], { hour12: false });
    rows.push(`<tr class="kind-${esc(e.kind)}" data-kind="${esc(e.kind)}" data-node="${esc(e.node_id)}">` +
      `<td>${time}</td><td class="kind">${esc(e.kind)}</td><td>${esc(e.node_id)}</td><td>${esc(e.detail)}</td></tr>`);
  }
  $("events").innerHTML = rows.join("");
}

// -- the stream -------------------------------------------------------------------------

function handle(msg) {
  switch (msg.type) {
    case "snapshot":
      state.clockSkew = msg.now - Date.now() / 1000;
      state.canWrite = msg.can_write;
      state.historyS = msg.window_s;
      state.nodes = new Map(msg.nodes.map((v) => [v.node_id, v]));
      state.latest = new Map(Object.entries(msg.latest));
      state.series = new Map(Object.entries(msg.series));
      state.share = msg.share;
      state.shareBucket = msg.share_bucket_s;
      state.events = msg.events;
      break;
    case "update":
      // "removed": dead past the controller's retention, gone from its table.
      if (msg.event === "removed") state.nodes.delete(msg.node.node_id);
      else state.nodes.set(msg.node.node_id, msg.node);
      break;
    case "sample": {
      state.latest.set(msg.node_id, { ts: msg.ts, metrics: msg.metrics });
      const series = state.series.get(msg.node_id) || [];
      series.push(msg.point);
      const since = now() - state.historyS;
      while (series.length && series[0][0] < since) series.shift();
      state.series.set(msg.node_id, series);
      break;
    }
    case "event":
      state.events.push(msg.event);
      if (state.events.length > MAX_EVENTS) state.events.shift();
      break;
    case "share": {
      const last = state.share[state.share.length - 1];
      if (last && last[0] === msg.point[0]) state.share[state.share.length - 1] = msg.point;
      else state.share.push(msg.point);
      break;
    }
  }
  schedule(msg.type === "event" || msg.type === "snapshot");
}

// Frames arrive with every heartbeat of every node; the page is redrawn at most every
// REDRAW_MS, with whatever arrived meanwhile.
const REDRAW_MS = 200;
let drawPending = false, eventsPending = false;
function schedule(events = false) {
  eventsPending ||= events;
  if (drawPending) return;
  drawPending = true;
  setTimeout(() => requestAnimationFrame(() => {
    drawPending = false;
    drawNodes();
    drawCharts();
    if (eventsPending) { eventsPending = false; drawEvents(); }
  }), REDRAW_MS);
}

function setLive(on, text) {
  const el = $("live");
  el.className = "live " + (on ? "on" : "off");
  el.textContent = text || (on ? "live" : "reconnecting…");
}

function notice(text) {
  const el = $("notice");
  el.textContent = text;
  el.hidden = !text;
}

let tokenGiven = null;
function askToken(message) {
  $("token-form").hidden = false;
  notice(message);
  return new Promise((resolve) => { tokenGiven = resolve; });
}

async function follow() {
  let backoff = 0.5;
  for (;;) {
    try {
      const r = await fetch("api/stream", { headers: authHeaders(), cache: "no-store" });
      if (r.status === 401 || r.status === 403) {
        const error = await r.json().catch(() => ({ message: "" }));
        setLive(false, "token needed");
        await askToken(`This controller needs a token to read: ${error.message}`);
        continue;
      }
      if (!r.ok) throw new Error(`stream: ${r.status}`);
      setLive(true);
      backoff = 0.5;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const data = buffer.slice(0, end).split("\n")
            .filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
          buffer = buffer.slice(end + 2);
          if (data) handle(JSON.parse(data));
        }
      }
    } catch (e) {
      console.warn("dashboard stream:", e);
    }
    setLive(false);
    await new Promise((resolve) => setTimeout(resolve, backoff * 1000));
    backoff = Math.min(5, backoff * 2);
  }
}

function init() {
  if (CONFIG.auth) $("token-form").hidden = false;
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("token").value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    notice("");
    if (tokenGiven) { tokenGiven(); tokenGiven = null; } else location.reload();
  });
  $("token-forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); });
  $("nodes").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) { button.disabled = true; nodeAction(button.dataset.action, button.dataset.node); }
  });
  $("event-filters").addEventListener("input", drawEvents);
  $("event-filters").addEventListener("submit", (e) => e.preventDefault());
  $("window").addEventListener("change", () => schedule());
  setInterval(() => schedule(), 1000);  // the time axis moves even when nothing arrives
  follow();
}

init();
