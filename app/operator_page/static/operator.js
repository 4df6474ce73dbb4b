// The operator page: polls /operator/data and draws plain inline SVG (no library, no network).
"use strict";
const POLL_MS = 2000, KEEP = 90, COLORS = ["#3b6fb6", "#e07b39", "#2e8b57", "#8e44ad", "#c0392b", "#16a085"];
const history = [];  // [{t, ingested: {topic: n}}] for rates
const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function empty(target, message) {
  target.replaceChildren();
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = message;
  target.appendChild(p);
}

// Horizontal bars: rows [{label, value, color?, note?}]
function bars(target, rows, unit, emptyMessage) {
  if (!rows.length) return empty(target, emptyMessage);
  const width = 380, row = 22, max = Math.max(...rows.map(r => Math.abs(r.value)), 1e-9);
  const svg = el("svg", {width, height: rows.length * row + 4, role: "img"});
  rows.forEach((r, i) => {
    const w = Math.max(2, 150 * Math.abs(r.value) / max), y = i * row + 2;
    svg.appendChild(el("text", {x: 0, y: y + 14}, r.label));
    svg.appendChild(el("rect", {x: 130, y, width: w, height: row - 6, fill: r.color || COLORS[i % COLORS.length]}));
    svg.appendChild(el("text", {x: 134 + w, y: y + 14}, fmt(r.value) + (unit || "") + (r.note ? " " + r.note : "")));
  });
  target.replaceChildren(svg);
}

// Lines over time: series {name: [[t, v], ...]}
function lines(target, series, totals, emptyMessage) {
  const names = Object.keys(series).filter(n => series[n].length > 1);
  if (!names.length) return empty(target, emptyMessage);
  const width = 340, height = 120, all = names.flatMap(n => series[n]);
  const t0 = Math.min(...all.map(p => p[0])), t1 = Math.max(...all.map(p => p[0])), top = Math.max(...all.map(p => p[1]), 1);
  const x = t => 30 + (width - 40) * (t - t0) / Math.max(t1 - t0, 1), y = v => height - 15 - (height - 25) * v / top;
  const svg = el("svg", {width, height: height + names.length * 16, role: "img"});
  svg.appendChild(el("text", {x: 0, y: 12}, fmt(top)));
  svg.appendChild(el("line", {x1: 30, x2: width, y1: height - 15, y2: height - 15, stroke: "#ccd"}));
  names.forEach((n, i) => {
    const d = series[n].map((p, j) => (j ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join("");
    svg.appendChild(el("path", {d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2}));
    const last = series[n][series[n].length - 1][1];
    svg.appendChild(el("text", {x: 30, y: height + 12 + i * 16, fill: COLORS[i % COLORS.length]}, `${n}: ${fmt(last)}/s now, ${fmt(totals[n] || 0)} since start`));
  });
  target.replaceChildren(svg);
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 0.01 || a === 0 ? v.toFixed(2) : v.toExponential(1);
}

function rates() {
  const series = {};
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1], b = history[i], dt = b.t - a.t;
    if (dt <= 0) continue;
    for (const topic of Object.keys(b.ingested)) {
      (series[topic] ||= []).push([b.t, Math.max(0, (b.ingested[topic] - (a.ingested[topic] || 0)) / dt)]);
    }
  }
  return series;
}

function draw(d) {
  document.getElementById("worker").textContent = `${d.worker} · up ${Math.round(d.uptime_s)}s`;
  const state = document.getElementById("state");
  state.textContent = d.recovered ? "tables recovered" : "recovering";
  state.className = "badge " + (d.recovered ? "ok" : "bad");
  document.getElementById("build").textContent = d.build ? `v${d.build.version} · ${d.build.git_sha.slice(0, 12)}` : "";

  history.push({t: d.now, ingested: d.ingested});
  if (history.length > KEEP) history.shift();
  lines(document.getElementById("fig-ingest"), rates(), d.ingested, "waiting for a second reading…");

  bars(document.getElementById("fig-lag"), Object.entries(d.lag).map(([group, g]) => ({
    label: group.length > 20 ? "…" + group.slice(-19) : group, value: g.total, color: g.stale ? "#c0392b" : undefined,
    note: g.stale ? "(stale)" : ""})), "", "no lag reading yet");

  const answers = {};
  for (const a of d.answers) {
    const key = `${a.arm || a.strategy} ${a.status}`;
    answers[key] = (answers[key] || 0) + a.value;
  }
  bars(document.getElementById("fig-answers"), Object.entries(answers).sort().map(([label, value]) => ({
    label, value, color: label.endsWith(" 200") ? "#2e8b57" : "#c0392b"})), "", "no answers yet");

  const latency = Object.keys(d.latency_by_arm).length ? d.latency_by_arm : d.latency_by_via;
  bars(document.getElementById("fig-latency"), Object.entries(latency).flatMap(([key, q]) =>
    ["p50", "p95", "p99"].map((p, i) => ({label: `${key} ${p}`, value: (q[p] || 0) * 1000, color: COLORS[i]}))),
    " ms", "no answers yet");

  const r = d.rollout, rollout = [];
  for (const m of r.models) rollout.push({label: `${m.arm} model`, value: 1, note: `${m.model_name} v${m.model_version}`});
  if (r.canary_percent !== null) rollout.push({label: "canary %", value: r.canary_percent});
  for (const x of r.decisions) rollout.push({label: `${x.arm} decision`, value: x.value,
    note: x.value > 0 ? "ship" : x.value < 0 ? "keep" : "inconclusive"});
  for (const [reason, n] of Object.entries(r.rollbacks)) rollout.push({label: `rollbacks ${reason}`, value: n, color: "#c0392b"});
  bars(document.getElementById("fig-rollout"), rollout, "", "no rollout series exported yet");

  bars(document.getElementById("fig-tables"), Object.entries(d.tables).map(([label, value]) => ({label, value})),
    "", "tables not counted yet");

  const trust = Object.entries(d.spam.flags).map(([action, n]) => ({label: `spam ${action}`, value: n}));
  if (d.spam.quarantined_users !== null) trust.push({label: "quarantined", value: d.spam.quarantined_users});
  for (const [arm, f] of Object.entries(d.fairness)) {
    for (const k of ["gini", "coverage", "tail_share"]) if (k in f) trust.push({label: `${arm} ${k}`, value: f[k]});
  }
  for (const [reason, n] of Object.entries(d.dead_letters)) trust.push({label: `dead ${reason}`, value: n, color: "#c0392b"});
  bars(document.getElementById("fig-trust"), trust, "", "no spam, fairness or dead-letter series yet");

  const box = document.getElementById("dead-letters");
  if (!d.recent_dead_letters.length) return empty(box, "no dead letters since this worker started");
  const table = document.createElement("table");
  table.innerHTML = "<tr><th>time</th><th>topic</th><th>partition/offset</th><th>class</th><th>reason</th></tr>";
  for (const x of d.recent_dead_letters) {
    const tr = table.insertRow();
    for (const v of [new Date(x.ts * 1000).toISOString().slice(11, 19), x.topic, `${x.partition}/${x.offset}`, x.category, x.reason]) {
      tr.insertCell().textContent = v;
    }
  }
  box.replaceChildren(table);
}

async function poll() {
  try {
    const reply = await fetch("/operator/data", {cache: "no-store"});
    if (reply.ok) draw(await reply.json());
  } catch (err) {
    document.getElementById("state").textContent = "worker unreachable";
  }
  setTimeout(poll, POLL_MS);
}
poll();
