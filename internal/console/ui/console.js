// The sluice console: four views over the JSON API under /ui/api/ (see
// internal/console). No framework: the views are tables, lists and SVG line charts
// drawn here. The API key, when the API asks for one, is kept in this tab's
// sessionStorage only and sent as a bearer token.
"use strict";

const api = "/ui/api/";
const palette = ["#1f6feb", "#d9480f", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#e03131", "#5c940d", "#6741d9", "#868e96"];
const $ = (id) => document.getElementById(id);

let info = { role: "", version: "", points: ["received", "transformed", "indexed"], playground: false };
let current = "";
let timer = 0;

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = sessionStorage.getItem("sluice-key");
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function showError(msg) {
  const e = $("error");
  e.textContent = msg || "";
  e.classList.toggle("hidden", !msg);
}

// call fetches an API path and decodes its JSON; a 401 shows the key form.
async function call(path, opts) {
  const o = Object.assign({}, opts || {});
  o.headers = headers(o.headers);
  const r = await fetch(api + path, o);
  if (r.status === 401) {
    $("auth").classList.remove("hidden");
    throw new Error("this console needs an API key: enter it above");
  }
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && body.error) || r.status + " " + r.statusText);
  return body;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function fmt(n) {
  if (n == null || isNaN(n)) return "–";
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(Math.abs(n) < 1 ? 3 : 1);
}

function last(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
  return null;
}

// ---- Flow

function chart(target, times, lines) {
  const box = $(target);
  box.textContent = "";
  const W = 600, H = 160, L = 46, B = 18, T = 6;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  let top = 0;
  for (const l of lines) for (const v of l.values) if (v != null) top = Math.max(top, v);
  top = top > 0 ? top * 1.1 : 1;
  const n = Math.max(times.length, 2);
  const x = (i) => L + (W - L - 4) * i / (n - 1);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const line = (x1, y1, x2, y2) => {
    const a = document.createElementNS(ns, "line");
    a.setAttribute("x1", x1); a.setAttribute("y1", y1); a.setAttribute("x2", x2); a.setAttribute("y2", y2);
    a.setAttribute("class", "axis");
    svg.append(a);
  };
  const label = (tx, ty, s, anchor) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", tx); t.setAttribute("y", ty); t.setAttribute("text-anchor", anchor || "end");
    t.textContent = s;
    svg.append(t);
  };
  line(L, H - B, W, H - B);
  line(L, T, L, H - B);
  label(L - 4, T + 8, fmt(top));
  label(L - 4, H - B, "0");
  if (times.length) {
    const span = (new Date(times[times.length - 1]) - new Date(times[0])) / 60000;
    label(L, H - 4, span >= 1 ? `-${Math.round(span)} min` : `-${Math.round(span * 60)} s`, "start");
    label(W - 2, H - 4, "now");
  }
  lines.forEach((l, i) => {
    const pts = [];
    l.values.forEach((v, j) => { if (v != null) pts.push(`${x(j).toFixed(1)},${y(v).toFixed(1)}`); });
    if (!pts.length) return;
    const p = document.createElementNS(ns, "polyline");
    p.setAttribute("points", pts.join(" "));
    p.setAttribute("stroke", palette[i % palette.length]);
    p.setAttribute("data-series", l.name);
    svg.append(p);
  });
  box.append(svg);
  const legend = el("div", { class: "legend" });
  lines.forEach((l, i) => {
    const swatch = el("i");
    swatch.style.background = palette[i % palette.length];
    legend.append(el("span", {}, swatch, `${l.name} ${fmt(last(l.values))}`));
  });
  if (!lines.length) legend.append(el("span", { class: "muted", text: "nothing yet" }));
  box.append(legend);
}

// sumBy adds the values of series by one label, per time.
function sumBy(series, name, label, n) {
  const out = new Map();
  for (const s of series) {
    if (s.name !== name) continue;
    const key = (s.labels && s.labels[label]) || "all";
    const acc = out.get(key) || { name: key, values: new Array(n).fill(null), total: 0 };
    s.values.forEach((v, i) => { if (v != null) acc.values[i] = (acc.values[i] || 0) + v; });
    acc.total += s.total || 0;
    out.set(key, acc);
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

async function refreshFlow() {
  const f = await call("flow");
  const n = f.times.length;
  $("flow-window").textContent = `last ${Math.round(f.window_seconds / 60)} min, a point every ${f.interval_seconds} s`;
  const inT = sumBy(f.series, "in", "type", n), outT = sumBy(f.series, "out", "type", n), failT = sumBy(f.series, "failed", "pipeline", n);
  const types = new Map();
  const row = (t) => types.get(t) || types.set(t, { type: t, in: 0, out: 0, failed: 0, inRate: null, outRate: null }).get(t);
  for (const s of inT) Object.assign(row(s.name), { in: s.total, inRate: last(s.values) });
  for (const s of outT) Object.assign(row(s.name), { out: s.total, outRate: last(s.values) });
  for (const s of failT) if (s.total > 0 || types.has(s.name)) row(s.name).failed = s.total;
  const tb = $("flow-types").tBodies[0];
  tb.textContent = "";
  for (const r of [...types.values()].sort((a, b) => a.type.localeCompare(b.type))) {
    tb.append(el("tr", { "data-type": r.type }, el("td", { text: r.type }),
      el("td", { class: "num in", text: String(r.in) }), el("td", { class: "num out", text: String(r.out) }),
      el("td", { class: "num failed", text: String(r.failed) }),
      el("td", { class: "num", text: fmt(r.inRate) }), el("td", { class: "num", text: fmt(r.outRate) })));
  }
  const inR = sumBy(f.series, "in", "receiver", n), rejR = sumBy(f.series, "rejected", "receiver", n);
  const p99 = new Map(f.series.filter((s) => s.name === "ack_p99").map((s) => [s.labels.receiver, last(s.values)]));
  const rb = $("flow-receivers").tBodies[0];
  rb.textContent = "";
  for (const r of inR) {
    const rej = rejR.find((x) => x.name === r.name);
    rb.append(el("tr", { "data-receiver": r.name }, el("td", { text: r.name }), el("td", { class: "num", text: String(r.total) }),
      el("td", { class: "num", text: String(rej ? rej.total : 0) }), el("td", { class: "num", text: fmt(last(r.values)) }),
      el("td", { class: "num", text: p99.get(r.name) != null ? fmt(p99.get(r.name)) + " s" : "–" })));
  }
  chart("chart-in", f.times, inT);
  chart("chart-out", f.times, outT);
  chart("chart-failed", f.times, failT.filter((s) => s.total > 0).concat(sumBy(f.series, "dead_letters", "none", n).map((s) => Object.assign(s, { name: "dead letters" }))));
  const ack = f.series.filter((s) => s.name === "ack_p50" || s.name === "ack_p99").map((s) => ({ name: `${s.labels.receiver} ${s.name.slice(4)}`, values: s.values }));
  chart("chart-ack", f.times, ack);
  chart("chart-backlog", f.times, f.series.filter((s) => s.name === "backlog" || s.name === "oldest_record_age").map((s) => ({ name: s.name === "backlog" ? "bytes" : "oldest (s)", values: s.values })).slice(0, 1));
  const ages = f.series.filter((s) => s.name === "iterator_age").map((s) => ({ name: `${s.labels.stream}/${s.labels.shard}`, values: s.values }));
  ages.sort((a, b) => (last(b.values) || 0) - (last(a.values) || 0));
  chart("chart-age", f.times, ages.slice(0, 8));
}

// ---- Failures

async function refreshFailures() {
  const type = $("failures-type").value;
  const v = await call("failures?limit=50" + (type ? "&type=" + encodeURIComponent(type) : ""));
  $("failures-total").textContent = `${v.total} since start, the last ${v.keep} kept`;
  const sel = $("failures-type");
  for (const c of v.classes) {
    if (c.type && ![...sel.options].some((o) => o.value === c.type)) sel.append(el("option", { value: c.type, text: c.type }));
  }
  const tb = $("failure-classes").tBodies[0];
  tb.textContent = "";
  for (const c of v.classes) {
    tb.append(el("tr", {}, el("td", { text: c.class }), el("td", { class: "num", text: String(c.count) }),
      el("td", { text: new Date(c.last).toLocaleTimeString() }), el("td", { class: "err", text: c.error })));
  }
  const list = $("failure-list");
  list.textContent = "";
  for (const f of v.latest) {
    const li = el("li", { "data-type": f.type },
      el("div", { class: "meta", text: `${new Date(f.time).toLocaleTimeString()} · ${f.type || "?"} · ${f.dead_letter ? "dead letter" : f.processor}` }),
      el("div", { class: "err", text: f.error }),
      el("pre", { class: "raw", text: f.event + (f.truncated ? " …" : "") }));
    if (!f.dead_letter && info.playground && !f.truncated) {
      const b = el("button", { type: "button", class: "try", text: "Try in the playground" });
      b.addEventListener("click", () => tryInPlayground(f));
      li.append(b);
    }
    list.append(li);
  }
  if (!v.latest.length) list.append(el("li", { class: "muted", text: "no failures" }));
}

// ---- Tap

let tapAbort = null;

async function startTap() {
  const point = $("tap-point").value, type = $("tap-type").value.trim(), rate = $("tap-rate").value || "10";
  const q = new URLSearchParams({ point, rate });
  if (type) q.set("type", type);
  tapAbort = new AbortController();
  $("tap-toggle").textContent = "Stop";
  $("tap-status").textContent = `watching ${point}${type ? " " + type : ""}…`;
  try {
    const r = await fetch(api + "tap?" + q, { headers: headers(), signal: tapAbort.signal });
    if (r.status === 401) $("auth").classList.remove("hidden");
    if (!r.ok) throw new Error(((await r.json().catch(() => null)) || {}).error || r.statusText);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line) addTapped(JSON.parse(line));
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") showError("tap: " + e.message);
  } finally {
    stopTap();
  }
}

function stopTap() {
  if (tapAbort) tapAbort.abort();
  tapAbort = null;
  $("tap-toggle").textContent = "Start";
  $("tap-status").textContent = "";
}

function addTapped(s) {
  const list = $("tap-list");
  list.prepend(el("li", { "data-type": s.type },
    el("div", { class: "meta", text: `${new Date(s.time).toLocaleTimeString()} · ${s.point} · ${s.type}${s.source ? " · " + s.source : ""}` }),
    el("pre", { text: JSON.stringify(s.event, null, 2) })));
  while (list.children.length > 100) list.lastChild.remove();
}

// ---- Playground

let pipelines = [];
let yamlEdited = false;
let testCase = null;

async function loadPipelines() {
  pipelines = await call("pipelines");
  const sel = $("pg-pipeline");
  sel.textContent = "";
  for (const p of pipelines) sel.append(el("option", { value: p.name, text: p.name }));
  pickPipeline();
}

function pickPipeline() {
  const p = pipelines.find((x) => x.name === $("pg-pipeline").value);
  $("pg-yaml").value = p ? p.yaml : "";
  yamlEdited = false;
}

async function runPlayground(ev) {
  ev.preventDefault();
  const lines = $("pg-lines").value.split("\n").filter((l) => l.trim() !== "");
  const req = { pipeline: $("pg-pipeline").value, lines };
  if (yamlEdited) req.yaml = $("pg-yaml").value;
  $("pg-status").textContent = "running…";
  $("pg-run").disabled = true;
  try {
    const res = await call("playground", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });
    showResults(res);
    $("pg-status").textContent = `${res.results.length} line(s) through ${res.pipeline}`;
    showError("");
  } catch (e) {
    $("pg-status").textContent = "";
    showError("playground: " + e.message);
  } finally {
    $("pg-run").disabled = false;
  }
}

function showResults(res) {
  const box = $("pg-results");
  box.textContent = "";
  res.results.forEach((r, i) => {
    const steps = el("table", { class: "steps" }, el("thead", {}, el("tr", {},
      el("th", { text: "processor" }), el("th", { text: "kind" }), el("th", { text: "" }), el("th", { class: "num", text: "µs" }), el("th", { text: "error" }))));
    const tb = el("tbody");
    for (const s of r.steps) {
      const tr = el("tr", { class: s.error ? "failed" : "" },
        el("td", { text: "  ".repeat(s.depth) + s.processor }), el("td", { text: s.kind + (s.tag ? " " + s.tag : "") }),
        el("td", { class: s.skipped ? "skipped" : "", text: s.skipped ? "if false" : "ran" }),
        el("td", { class: "num", text: (s.nanos / 1000).toFixed(1) }), el("td", { text: s.error || "" }));
      tb.append(tr);
      if (s.grok) tb.append(el("tr", { class: "grok" }, el("td", { colspan: "5" }, grokTable(s.grok))));
    }
    steps.append(tb);
    const doc = r.dropped ? el("p", { class: "muted", text: "dropped" }) : el("pre", { class: "document", text: JSON.stringify(r.document, null, 2) });
    box.append(el("div", { class: "result" + (r.failure ? " failed" : ""), "data-line": String(i) },
      el("div", { class: "meta", text: `line ${i + 1} · ${(r.nanos / 1000).toFixed(1)} µs` }),
      el("pre", { class: "input", text: r.input }),
      r.failure ? el("p", { class: "err", text: r.failure }) : null,
      el("div", { class: "columns" }, el("div", { class: "scroll" }, doc), el("div", { class: "scroll" }, steps))));
  });
  testCase = { name: res.file_name, text: res.test_case };
  $("pg-save").disabled = false;
  $("pg-testcase-name").textContent = res.file_name;
  $("pg-testcase").textContent = res.test_case;
  $("pg-testcase-box").classList.remove("hidden");
}

// tryInPlayground opens the playground on a failed event: its pipeline, and its
// message as the line (the whole event when it has no message string).
function tryInPlayground(f) {
  let line = f.event;
  try {
    const ev = JSON.parse(f.event);
    if (ev && typeof ev.message === "string") line = ev.message;
  } catch (e) { /* not JSON: the event as it is */ }
  location.hash = "#playground";
  const sel = $("pg-pipeline");
  if ([...sel.options].some((o) => o.value === f.type)) {
    sel.value = f.type;
    pickPipeline();
  }
  $("pg-lines").value = line;
}

function grokTable(g) {
  if (g.pattern < 0) return el("span", { class: "muted", text: "no pattern matched" });
  const t = el("table", { class: "grok" }, el("caption", { text: `pattern ${g.pattern}: ${g.expression}` }));
  for (const p of g.parts) {
    t.append(el("tr", {}, el("td", { class: "depth" + Math.min(p.depth, 3), text: "%{" + p.name + (p.field ? ":" + p.field : "") + "}" }),
      el("td", {}, el("code", { text: p.text }))));
  }
  return t;
}

function saveTestCase() {
  if (!testCase) return;
  const a = el("a", { download: testCase.name });
  a.href = URL.createObjectURL(new Blob([testCase.text], { type: "application/yaml" }));
  document.body.append(a);
  a.click();
  a.remove();
}

// ---- Views

const refreshers = { flow: refreshFlow, failures: refreshFailures };

function show(view) {
  if (!document.getElementById("view-" + view)) view = "flow";
  current = view;
  for (const s of document.querySelectorAll(".view")) s.classList.toggle("hidden", s.id !== "view-" + view);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === view);
  clearTimeout(timer);
  tick();
}

async function tick() {
  const fn = refreshers[current];
  if (!fn) return;
  try {
    await fn();
    showError("");
  } catch (e) {
    showError(e.message);
  }
  timer = setTimeout(tick, current === "flow" ? 2000 : 3000);
}

async function start() {
  $("auth").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("sluice-key", $("auth-key").value);
    $("auth").classList.add("hidden");
    init();
  });
  $("failures-type").addEventListener("change", () => refreshFailures().catch((e) => showError(e.message)));
  $("tap-form").addEventListener("submit", (ev) => { ev.preventDefault(); if (tapAbort) stopTap(); else startTap(); });
  $("pg-pipeline").addEventListener("change", pickPipeline);
  $("pg-yaml").addEventListener("input", () => { yamlEdited = true; });
  $("playground-form").addEventListener("submit", runPlayground);
  $("pg-save").addEventListener("click", saveTestCase);
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  await init();
}

async function init() {
  try {
    info = await call("info");
  } catch (e) {
    showError(e.message);
    return;
  }
  $("who").textContent = `${info.role} · ${info.version}`;
  const sel = $("tap-point");
  sel.textContent = "";
  for (const p of info.points) sel.append(el("option", { value: p, text: p }));
  $("playground-off").classList.toggle("hidden", info.playground);
  $("playground-form").classList.toggle("hidden", !info.playground);
  if (info.playground) loadPipelines().catch((e) => showError(e.message));
  show(location.hash.slice(1) || "flow");
  document.body.dataset.ready = "true";
}

start();
