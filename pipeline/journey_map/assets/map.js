// The journey map: reads data?from=...&to=...&channel=... (pipeline/journey_map/data.py)
// and draws it; every number shown is a view's answer, formatted, nothing computed here.
"use strict";

const REFRESH_MS = 10000;
const SVG = "http://www.w3.org/2000/svg";
const ENTRY = "(first touch)";
const DROPPED = "(dropped off)";
const DIMENSIONS = ["channel", "campaign", "segment"];
const form = document.getElementById("filters");
const status = document.getElementById("status");
let chosenRange = false; // the user picked days: keep them; else follow the data
let pending = null;

const count = (n) => Number(n).toLocaleString("en-US");
const percent = (rate) => (rate === null ? "–" : (rate * 100).toFixed(1) + "%");
const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "still firing");

// A table cell with a rate as a percentage behind a bar of its size.
function rateCell(field, rate) {
  const cell = element("td", { "data-field": field });
  cell.append(element("span", { class: "bar", style: `width:${Math.round((rate || 0) * 80)}px` }), percent(rate));
  return cell;
}

// A stage or funnel step with the one it leads to, when it has one.
const stepLabel = (stage, next) => (next ? `${stage} → ${next}` : stage);

// A table body's rows, or one row saying why there are none.
function fillRows(selector, rows, makeRow, columns, none) {
  const body = document.querySelector(selector);
  if (!rows.length) {
    const row = element("tr");
    row.append(element("td", { colspan: columns, class: "empty" }, none));
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(...rows.map(makeRow));
}

function element(tag, attributes = {}, text = null, namespace = null) {
  const made = namespace ? document.createElementNS(namespace, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  if (text !== null) made.textContent = text;
  return made;
}

function chosen() {
  const params = new URLSearchParams();
  if (chosenRange) {
    params.set("from", form.elements.from.value);
    params.set("to", form.elements.to.value);
  }
  for (const name of DIMENSIONS) if (form.elements[name].value) params.set(name, form.elements[name].value);
  return params;
}

async function refresh() {
  if (pending) pending.abort();
  pending = new AbortController();
  const params = chosen();
  history.replaceState(null, "", params.toString() ? "?" + params : location.pathname);
  try {
    const response = await fetch("data?" + params, { signal: pending.signal, cache: "no-store" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    render(body);
  } catch (error) {
    if (error.name === "AbortError") return;
    status.textContent = "Could not refresh: " + error.message;
    status.className = "error";
  }
}

function render(body) {
  form.elements.from.value = body.range.from;
  form.elements.to.value = body.range.to;
  for (const name of DIMENSIONS) fillOptions(name, body.options, body.filters[name]);
  const stages = body.funnel.map((row) => row.stage);
  drawSankey(body.funnel, body.flows);
  drawFunnel(body.funnel, body.dropoff);
  drawSessionFunnel(body.sessions);
  drawStepWatch(body.watch);
  drawAlerts(stages, body.alerts, body.range);
  document.getElementById("queries").textContent = Object.values(body.queries)
    .map((q) => "journeys query " + Object.entries(q.params).map(([k, v]) => `-p ${k}=${JSON.stringify(v)} `).join("") + JSON.stringify(q.sql))
    .join("\n");
  const upTo = body.data_up_to ? when(body.data_up_to) + " UTC" : "no data yet";
  status.textContent = `Updated ${new Date().toLocaleTimeString("en-GB")} · data up to ${upTo} · refreshes every ${REFRESH_MS / 1000} s`;
  status.className = "";
  const dataset = document.body.dataset;
  Object.assign(dataset, { from: body.range.from, to: body.range.to, ...body.filters });
  dataset.renders = String(Number(dataset.renders) + 1);
}

function fillOptions(name, options, value) {
  const select = form.elements[name];
  const values = options.filter((o) => o.dimension === name).map((o) => o.value);
  if (value && !values.includes(value)) values.unshift(value);
  select.replaceChildren(element("option", { value: "" }, "all"), ...values.map((v) => element("option", { value: v }, v)));
  select.value = value;
}

// --- stage flow (Sankey): first touch, then one column per stage; drop-offs below ---

function drawSankey(funnel, flows) {
  const svg = document.getElementById("sankey");
  const stages = funnel.map((row) => row.stage);
  const width = 1000, top = 34, height = 260, gap = 46, nodeWidth = 14;
  const column = (width - 120) / Math.max(stages.length, 1);
  const xOf = (node) => (node === ENTRY ? 10 : 10 + column * (stages.indexOf(node) + 1));
  const inflow = {}, outflow = {}, dropped = {};
  for (const f of flows) {
    outflow[f.source] = (outflow[f.source] || 0) + f.customers;
    if (f.target === DROPPED) dropped[f.source] = f.customers;
    else inflow[f.target] = (inflow[f.target] || 0) + f.customers;
  }
  const size = (node) => Math.max(inflow[node] || 0, outflow[node] || 0);
  const largest = Math.max(1, ...[ENTRY, ...stages].map(size));
  const scale = height / largest;
  const bottom = top + height + gap + Math.max(0, ...Object.values(dropped)) * scale;
  svg.setAttribute("viewBox", `0 0 ${width} ${bottom + 24}`);
  svg.replaceChildren();
  if (!flows.length) {
    svg.append(element("text", { x: width / 2, y: top + 20, "text-anchor": "middle" }, "No stage moves in this range", SVG));
    return;
  }
  // Where the next band leaves each node (right edge) and enters it (left edge).
  const leaving = {}, arriving = {};
  const rank = (node) => (node === DROPPED ? stages.length + 1 : stages.indexOf(node));
  const ordered = [...flows].sort((a, b) => rank(a.source) - rank(b.source) || rank(a.target) - rank(b.target));
  const bands = [];
  for (const f of ordered) {
    const thickness = f.customers * scale;
    const y0 = top + (leaving[f.source] || 0);
    leaving[f.source] = (leaving[f.source] || 0) + thickness;
    const x0 = xOf(f.source) + nodeWidth;
    let x1, y1;
    if (f.target === DROPPED) {
      x1 = xOf(f.source) + column / 2;
      y1 = top + height + gap;
    } else {
      x1 = xOf(f.target);
      y1 = top + (arriving[f.target] || 0);
      arriving[f.target] = (arriving[f.target] || 0) + thickness;
    }
    bands.push({ f, x0, y0, x1, y1, thickness });
  }
  for (const { f, x0, y0, x1, y1, thickness } of bands) {
    const kind = f.source === ENTRY ? "flow entry" : f.target === DROPPED ? "flow drop" : "flow";
    const group = element("g", { class: kind, "data-source": f.source, "data-target": f.target }, null, SVG);
    const middle = (x0 + x1) / 2, t = Math.max(thickness, 1);
    const path = `M${x0},${y0} C${middle},${y0} ${middle},${y1} ${x1},${y1} L${x1},${y1 + t} C${middle},${y1 + t} ${middle},${y0 + t} ${x0},${y0 + t} Z`;
    group.append(element("path", { d: path }, null, SVG));
    group.append(element("title", {}, `${f.source} → ${f.target}: ${count(f.customers)} customers`, SVG));
    const labelX = f.target === DROPPED ? x1 + 4 : middle, labelY = (y0 + y1 + t) / 2 + 4;
    group.append(element("text", { class: "flow-count", x: labelX, y: labelY, "text-anchor": "middle" }, count(f.customers), SVG));
    svg.append(group);
  }
  const reached = Object.fromEntries(funnel.map((row) => [row.stage, row.customers]));
  for (const node of [ENTRY, ...stages]) {
    const group = element("g", { class: node === ENTRY ? "node entry" : "node", "data-node": node }, null, SVG);
    group.append(element("rect", { x: xOf(node), y: top, width: nodeWidth, height: Math.max(size(node) * scale, 1) }, null, SVG));
    group.append(element("text", { class: "name", x: xOf(node), y: top - 18 }, node, SVG));
    if (node !== ENTRY) {  // customers who reached the stage in the range (the funnel's)
      group.append(element("text", { class: "node-count", x: xOf(node), y: top - 5 }, count(reached[node]), SVG));
    }
    svg.append(group);
  }
  for (const [stage, n] of Object.entries(dropped)) {
    const x = xOf(stage) + column / 2, y = top + height + gap;
    const group = element("g", { class: "node drop", "data-node": DROPPED, "data-stage": stage }, null, SVG);
    group.append(element("rect", { x, y, width: nodeWidth, height: Math.max(n * scale, 1) }, null, SVG));
    group.append(element("text", { x: x + nodeWidth + 4, y: y + 10 }, `dropped off at ${stage}`, SVG));
    svg.append(group);
  }
}

// --- funnel table: stage_funnel_between and stage_dropoff_between, side by side ---

function drawFunnel(funnel, dropoff) {
  const body = document.querySelector("#funnel tbody");
  const dropOf = Object.fromEntries(dropoff.map((row) => [row.stage, row]));
  body.replaceChildren(
    ...funnel.map((row) => {
      const d = dropOf[row.stage] || { passed: 0, dropped_off: 0, dropoff_rate: null };
      const line = element("tr", { "data-stage": row.stage });
      line.append(
        element("td", { "data-field": "stage" }, row.stage),
        element("td", { "data-field": "customers" }, count(row.customers)),
        element("td", { "data-field": "conversion_from_previous" }, percent(row.conversion_from_previous)),
        element("td", { "data-field": "passed" }, count(d.passed)),
        element("td", { "data-field": "dropped_off" }, count(d.dropped_off)),
        rateCell("dropoff_rate", d.dropoff_rate),
      );
      return line;
    }),
  );
}

// --- session funnel: funnel_between, one row per step of the stage model's funnel ---

function drawSessionFunnel(steps) {
  const body = document.querySelector("#session-funnel tbody");
  body.replaceChildren(
    ...steps.map((row) => {
      const line = element("tr", { "data-step": row.step });
      line.append(
        element("td", { "data-field": "step" }, row.step),
        element("td", { "data-field": "sessions" }, count(row.sessions)),
        rateCell("share_of_sessions", row.share_of_sessions),
      );
      return line;
    }),
  );
}

// --- step watch: step_watch_between, one row per stage or funnel step the detector watched ---

function drawStepWatch(steps) {
  fillRows("#step-watch tbody", steps, (row) => {
    const line = element("tr", { "data-step": row.stage });
    const graph = element("td", { "data-graph": "rates" });
    graph.append(sparkline(row.rates, row.baselines));
    line.append(
      element("td", { "data-field": "step" }, stepLabel(row.stage, row.next_stage)),
      element("td", { "data-field": "windows" }, count(row.windows)),
      element("td", { "data-field": "sessions" }, count(row.sessions)),
      element("td", { "data-field": "dropped" }, count(row.dropped)),
      rateCell("dropoff_rate", row.dropoff_rate),
      element("td", { "data-field": "latest_rate" }, percent(row.latest_rate)),
      element("td", { "data-field": "latest_baseline" }, percent(row.latest_baseline)),
      element("td", { "data-field": "anomalous_windows" }, count(row.anomalous_windows)),
      element("td", { "data-field": "episodes" }, count(row.episodes)),
      graph,
    );
    return line;
  }, 10, "No window of any step ended in this range yet");
}

// Rates (0 to 1) window by window as a line, their baselines dashed (gaps where none yet).
function sparkline(rates, baselines) {
  const width = 160, height = 28;
  const svg = element("svg", { class: "sparkline", width, height, viewBox: `0 0 ${width} ${height}` }, null, SVG);
  const x = (i) => (rates.length > 1 ? (i / (rates.length - 1)) * (width - 2) + 1 : width / 2);
  const y = (rate) => height - 2 - rate * (height - 4);
  const points = (values) => values.map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`));
  const base = points(baselines).filter((p) => p !== null).join(" ");
  if (base) svg.append(element("polyline", { class: "baseline", points: base }, null, SVG));
  svg.append(element("polyline", { class: "rate", points: points(rates).join(" ") }, null, SVG));
  return svg;
}

// --- drop-off alerts: one lane per stage over the range, and the episodes' table ---

function drawAlerts(stages, alerts, range) {
  const svg = document.getElementById("timeline");
  const width = 1000, left = 110, lane = 22, start = Date.parse(range.from + "T00:00:00Z");
  const end = Date.parse(range.to + "T00:00:00Z") + 86400000;
  const x = (ms) => left + ((Math.min(Math.max(ms, start), end) - start) / (end - start)) * (width - left - 10);
  svg.setAttribute("viewBox", `0 0 ${width} ${stages.length * lane + 26}`);
  svg.replaceChildren();
  stages.forEach((stage, i) => {
    svg.append(element("text", { x: 0, y: i * lane + 15, class: "lane" }, stage, SVG));
    svg.append(element("line", { x1: left, x2: width - 10, y1: i * lane + lane - 2, y2: i * lane + lane - 2, stroke: "#e4e7ec" }, null, SVG));
  });
  const axis = element("g", { class: "axis" }, null, SVG);
  const days = (end - start) / 86400000, step = Math.max(1, Math.ceil(days / 10));
  for (let d = 0; d <= days; d += step) {
    const at = start + d * 86400000;
    axis.append(element("text", { x: x(at), y: stages.length * lane + 20, "text-anchor": "middle" }, new Date(at).toISOString().slice(5, 10), SVG));
  }
  svg.append(axis);
  for (const a of alerts) {
    const from = Date.parse(a.fired_at), to = a.resolved_at ? Date.parse(a.resolved_at) : end;
    const rect = element("rect", {
      class: `episode ${a.severity}`, "data-alert-id": a.alert_id, x: x(from), y: stages.indexOf(a.stage) * lane + 3,
      width: Math.max(x(to) - x(from), 3), height: lane - 8, rx: 3,
    }, null, SVG);
    rect.append(element("title", {}, `${a.stage}: ${percent(a.observed_rate)} dropped off (baseline ${percent(a.baseline_rate)})`, SVG));
    svg.append(rect);
  }
  fillRows("#alerts tbody", alerts, (a) => {
    const line = element("tr", { class: "episode", "data-alert-id": a.alert_id });
    line.append(
      element("td", { "data-field": "stage" }, stepLabel(a.stage, a.next_stage)),
      element("td", { "data-field": "fired_at" }, when(a.fired_at)),
      element("td", { "data-field": "resolved_at" }, when(a.resolved_at)),
      element("td", { "data-field": "severity" }, a.severity),
      element("td", { "data-field": "observed_rate" }, percent(a.observed_rate)),
      element("td", { "data-field": "baseline_rate" }, percent(a.baseline_rate)),
      element("td", { "data-field": "sessions" }, count(a.sessions)),
    );
    return line;
  }, 7, "No drop-off alert fired in this range");
}

// --- filters and live refresh ---

const initial = new URLSearchParams(location.search);
for (const name of ["from", "to", ...DIMENSIONS]) {
  if (!initial.get(name)) continue;
  if (name === "from" || name === "to") {
    form.elements[name].value = initial.get(name);
    chosenRange = true;
  } else {
    form.elements[name].replaceChildren(element("option", { value: initial.get(name) }, initial.get(name)));
    form.elements[name].value = initial.get(name);
  }
}
form.addEventListener("change", (event) => {
  if (event.target.name === "from" || event.target.name === "to") chosenRange = true;
  refresh();
});
document.getElementById("reset").addEventListener("click", () => {
  chosenRange = false;
  refresh();
});
refresh();
setInterval(() => {
  if (!document.hidden) refresh();
}, REFRESH_MS);
