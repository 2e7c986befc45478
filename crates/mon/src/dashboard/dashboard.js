// Cuttle dashboard: polls /api/status and renders it. Read-only; every value is put
// into the page with textContent, never parsed as HTML.
"use strict";

const REFRESH_MS = 2000;
const SVG_NS = "http://www.w3.org/2000/svg";

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
}

function rate(n) { return bytes(n) + "/s"; }
function count(n) { return Number(n).toLocaleString("en-US"); }

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function usageCell(used, total) {
  if (used === null || total === null || !total) return el("td", {}, "no report");
  const pct = (100 * used) / total;
  const bar = el("div", { class: pct >= 85 ? "bar high" : "bar" }, el("div", { style: "width:" + pct.toFixed(1) + "%" }));
  return el("td", {}, bytes(used) + " / " + bytes(total) + " (" + pct.toFixed(1) + "%)", bar);
}

function renderHealth(s) {
  const h = $("health");
  h.dataset.health = s.health;
  $("health-status").textContent = s.health;
  fill($("checks"), s.checks.map((c) =>
    el("li", {},
      el("strong", {}, c.code), " ", c.summary,
      c.detail.length ? el("span", { class: "detail" }, c.detail.slice(0, 5).join("; ") + (c.detail.length > 5 ? "; …" : "")) : null,
      c.remedy ? el("span", { class: "remedy" }, c.remedy) : null)));
}

function renderCards(s) {
  $("osd-counts").textContent = s.osds.up + " up, " + s.osds.in + " in";
  $("osd-detail").textContent = "of " + s.osds.total + " OSDs";
  const u = s.usage;
  $("usage").textContent = bytes(u.bytes_used) + " / " + bytes(u.bytes_total);
  const pct = u.bytes_total ? (100 * u.bytes_used) / u.bytes_total : 0;
  $("usage-bar").style.width = pct.toFixed(1) + "%";
  const clean = s.pg_states.filter((p) => p.state === "active+clean").reduce((a, p) => a + p.count, 0);
  const reported = s.pg_states.reduce((a, p) => a + p.count, 0);
  $("pg-summary").textContent = clean + " / " + s.pgs_total + " active+clean";
  $("pg-detail").textContent = reported < s.pgs_total ? (s.pgs_total - reported) + " not reported yet" : "all reported";
  const io = s.client_io;
  $("io-now").textContent = rate(io.write_bytes_per_sec) + " wr, " + rate(io.read_bytes_per_sec) + " rd";
  $("io-ops").textContent = io.write_ops_per_sec.toFixed(1) + " op/s wr, " + io.read_ops_per_sec.toFixed(1) + " op/s rd";
  const r = s.recovery;
  if (r.objects_remaining > 0) {
    $("recovery").textContent = count(r.objects_remaining) + " objects left";
    const eta = r.objects_per_sec > 0 ? Math.ceil(r.objects_remaining / r.objects_per_sec) + " s left" : "waiting";
    $("recovery-detail").textContent = rate(r.bytes_per_sec) + ", " + r.objects_per_sec.toFixed(1) + " objects/s, " + eta;
  } else {
    $("recovery").textContent = "idle";
    $("recovery-detail").textContent = "nothing to recover";
  }
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

// Write and read throughput over the last ten minutes: a line per direction with a dot
// on every sample (one sample is a dot), the write area shaded.
function renderGraph(history) {
  const graph = $("graph");
  const W = Math.max(200, Math.round(graph.clientWidth || 800)), H = 180, SPAN_MS = 10 * 60 * 1000;
  graph.setAttribute("viewBox", "0 0 " + W + " " + H);
  const end = history.length ? history[history.length - 1].unix_ms : Date.now();
  const max = Math.max(1, ...history.map((p) => Math.max(p.write_bytes_per_sec, p.read_bytes_per_sec)));
  const x = (t) => W - 6 - ((end - t) / SPAN_MS) * (W - 12);
  const y = (v) => H - 6 - (v / max) * (H - 18);
  const parts = [0.25, 0.5, 0.75, 1].map((f) => svg("line", { class: "grid", x1: 0, x2: W, y1: y(max * f), y2: y(max * f) }));
  if (history.length > 1) {
    const first = x(history[0].unix_ms).toFixed(1), last = x(end).toFixed(1);
    const pts = history.map((p) => x(p.unix_ms).toFixed(1) + "," + y(p.write_bytes_per_sec).toFixed(1));
    parts.push(svg("polygon", { class: "write-area", points: first + "," + y(0) + " " + pts.join(" ") + " " + last + "," + y(0) }));
  }
  for (const [key, cls] of [["read_bytes_per_sec", "read"], ["write_bytes_per_sec", "write"]]) {
    parts.push(svg("polyline", { class: cls, points: history.map((p) => x(p.unix_ms).toFixed(1) + "," + y(p[key]).toFixed(1)).join(" ") }));
    for (const p of history) parts.push(svg("circle", { class: cls + "-dot", cx: x(p.unix_ms).toFixed(1), cy: y(p[key]).toFixed(1), r: 2.5 }));
  }
  graph.replaceChildren(...parts);
  $("graph-scale").textContent = history.length
    ? "top line: " + rate(max) + " · " + history.length + " samples, 5 s apart · right edge: " + new Date(end).toLocaleTimeString()
    : "no samples yet (the monitor samples every 5 s)";
}

function renderTree(s) {
  const rows = [];
  for (const h of s.hosts) {
    const up = h.osds.filter((o) => o.up).length;
    rows.push(el("tr", { class: "host" }, el("td", {}, "host " + h.name), el("td", { colspan: "4" }, up + " of " + h.osds.length + " up")));
    for (const o of h.osds) {
      rows.push(el("tr", { class: "osd", "data-osd": String(o.id) },
        el("td", {}, o.name),
        el("td", {}, el("span", { class: "badge " + (o.up ? "up" : "down") }, o.up ? "up" : "down"),
          el("span", { class: "badge " + (o.in ? "in" : "out") }, o.in ? "in" : "out")),
        usageCell(o.bytes_used, o.bytes_total),
        el("td", { class: "num" }, o.weight.toFixed(2)),
        el("td", {}, o.addr || "–")));
    }
  }
  fill($("osd-tree").tBodies[0], rows);
}

function renderTables(s) {
  fill($("pools").tBodies[0], s.pools.length ? s.pools.map((p) =>
    el("tr", { "data-pool": p.name },
      el("td", {}, p.name), el("td", {}, p.redundancy), el("td", { class: "num" }, p.pg_num),
      el("td", { class: "num" }, count(p.objects) + (p.pgs_uncounted ? "+" : "")),
      el("td", { class: "num" }, bytes(p.bytes))))
    : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "no pools"))]);
  fill($("pg-states").tBodies[0], s.pg_states.map((p) =>
    el("tr", {}, el("td", {}, p.state), el("td", { class: "num" }, p.count))));
  fill($("monitors").tBodies[0], s.monitors.map((m) =>
    el("tr", {}, el("td", {}, m.name),
      el("td", {}, m.leader ? "leader" : (m.reachable ? "peon" : "unreachable")),
      el("td", {}, m.addr))));
}

function render(s) {
  if (s.error) throw new Error(s.error);
  $("identity").textContent = "fsid " + s.fsid + " · epoch " + s.epoch + " · leader " + (s.leader || "none") + " (term " + s.term + ") · answered by " + s.answered_by;
  renderHealth(s);
  renderCards(s);
  renderGraph(s.io_history);
  renderTree(s);
  renderTables(s);
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  document.body.dataset.loaded = "true";
}

async function refresh() {
  try {
    const r = await fetch("/api/status", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
  } catch (e) {
    $("health").dataset.health = "unreachable";
    $("health-status").textContent = "monitor unreachable: " + e.message;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
