// rfs_otel dashboard: polls api/dashboard?window=... and draws SVG charts with axes, units and a hover read-out.
// No external code; data only ever inserted via textContent and SVG attributes (never as HTML).
"use strict";
(function () {
  const REFRESH_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const charts = {};
  let filter = "";

  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (value === "+Inf" || value === "-Inf") return value;  // the JSON API's spelling of infinities
    return Number(value).toFixed(digits);
  }
  function fmtSeconds(s) {
    if (s === null || s === undefined || !Number.isFinite(s)) return "–";
    return s < 1 ? `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms` : `${s.toFixed(2)} s`;
  }
  const UNITS = {
    rps: (v) => `${v.toFixed(v < 10 ? 2 : 1)} req/s`,
    errors: (v) => `${(v * 100).toFixed(2)} %`,
    p95: fmtSeconds,
    cpu: (v) => `${v.toFixed(1)} %`,
    memory: (v) => `${(v / 1048576).toFixed(1)} MiB`,
  };
  function fmtDuration(seconds) {
    const s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
  }
  function fmtTime(t) {
    return new Date(t * 1000).toLocaleTimeString([], { hour12: false });
  }
  function fmtValue(value) {
    if (value === null || value === undefined) return "–";
    if (value === "+Inf" || value === "-Inf") return value;
    if (typeof value === "object") {
      if ("count" in value && "p95" in value) return `n=${value.count} p95=${fmt(value.p95, 4)}`;
      if ("count" in value) return `n=${value.count} sum=${fmt(value.sum, 3)}`;
      return JSON.stringify(value);
    }
    return String(Math.round(value * 1e6) / 1e6);
  }
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    return [1, 2, 2.5, 5, 10].map((m) => m * power).find((c) => c >= value);
  }

  function node(tag, attrs, content) {
    const el = document.createElementNS(SVG, tag);
    Object.entries(attrs).forEach(([k, v]) => el.setAttribute(k, String(v)));
    if (content !== undefined) el.textContent = content;
    return el;
  }
  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  // A chart's frame: size from the element, margins for the axis labels, a y axis with units.
  function frame(svg, max, format) {
    const W = Math.max(200, Math.round(svg.clientWidth || 300)), H = 130;
    const box = { W, H, L: 64, R: 10, T: 8, B: 22 };
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.replaceChildren();
    [0, 0.5, 1].forEach((f) => {
      const y = box.T + (1 - f) * (H - box.T - box.B);
      svg.appendChild(node("line", { x1: box.L, x2: W - box.R, y1: y, y2: y, class: f ? "grid" : "axis" }));
      svg.appendChild(node("text", { x: box.L - 4, y: y + 4, "text-anchor": "end", class: "tick" }, format(max * f)));
    });
    svg.appendChild(node("line", { x1: box.L, x2: box.L, y1: box.T, y2: H - box.B, class: "axis" }));
    return box;
  }

  function drawLine(key, history, field, scale) {
    const svg = $(`chart-${key}`), format = UNITS[key];
    const points = history
      .map((p) => ({ t: p.t, v: p[field] === null || p[field] === undefined ? NaN : p[field] * (scale || 1) }))
      .filter((p) => Number.isFinite(p.v));
    const max = niceMax(Math.max(0, ...points.map((p) => p.v)));
    const box = frame(svg, max, format);
    svg.dataset.points = String(points.length);
    $(`now-${key}`).textContent = points.length ? `now ${format(points[points.length - 1].v)}` : "no data yet";
    if (points.length === 0) { charts[key] = null; return; }
    const t0 = points[0].t, span = points[points.length - 1].t - t0 || 1;
    const x = (t) => box.L + ((t - t0) / span) * (box.W - box.L - box.R);
    const y = (v) => box.T + (1 - v / max) * (box.H - box.T - box.B);
    [[t0, "start"], [t0 + span, "end"]].forEach(([t, anchor]) =>
      svg.appendChild(node("text", { x: x(t), y: box.H - 6, "text-anchor": anchor, class: "tick" }, fmtTime(t))));
    svg.appendChild(node("polyline", { points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ") }));
    charts[key] = { box, marks: points.map((p) => ({ x: x(p.t), y: y(p.v), label: `${fmtTime(p.t)} · ${format(p.v)}` })) };
  }

  function drawBars(latency) {
    const key = "latency", svg = $("chart-latency");
    if (!latency || !latency.counts) { frame(svg, 1, String); charts[key] = null; svg.dataset.bars = "0"; return; }
    const counts = latency.counts, bounds = latency.bounds;
    const max = niceMax(Math.max(0, ...counts));
    const box = frame(svg, max, (v) => String(Math.round(v)));
    const width = (box.W - box.L - box.R) / counts.length, marks = [], every = Math.ceil(counts.length / 6);
    counts.forEach((c, i) => {
      const name = i < bounds.length ? `≤ ${fmtSeconds(bounds[i])}` : `> ${fmtSeconds(bounds[bounds.length - 1])}`;
      const top = box.T + (1 - c / max) * (box.H - box.T - box.B), x = box.L + i * width;
      svg.appendChild(node("rect", { x: x + 1, y: top, width: Math.max(1, width - 2), height: box.H - box.B - top, class: "bar" }));
      if (i % every === 0) svg.appendChild(node("text", { x: x + width / 2, y: box.H - 6, "text-anchor": "middle", class: "tick" }, name));
      marks.push({ x: x + width / 2, y: top, label: `${name}: ${c} requests` });
    });
    svg.dataset.bars = String(counts.length);
    charts[key] = { box, marks };
  }

  // Hover: the mark nearest the pointer is highlighted and its time and value shown under the chart.
  function hover(key) {
    const svg = $(`chart-${key}`), readout = $(`readout-${key}`);
    svg.addEventListener("mousemove", (e) => {
      const chart = charts[key];
      if (!chart || chart.marks.length === 0) return;
      const r = svg.getBoundingClientRect(), px = ((e.clientX - r.left) / r.width) * chart.box.W;
      const mark = chart.marks.reduce((a, b) => (Math.abs(b.x - px) < Math.abs(a.x - px) ? b : a));
      svg.querySelectorAll(".hover").forEach((el) => el.remove());
      svg.appendChild(node("line", { x1: mark.x, x2: mark.x, y1: chart.box.T, y2: chart.box.H - chart.box.B, class: "hover" }));
      svg.appendChild(node("circle", { cx: mark.x, cy: mark.y, r: 3, class: "hover" }));
      readout.textContent = mark.label;
    });
    svg.addEventListener("mouseleave", () => {
      svg.querySelectorAll(".hover").forEach((el) => el.remove());
      readout.textContent = "";
    });
  }

  function renderRoutes(routes, omitted) {
    const rows = document.createDocumentFragment();
    routes.forEach((r) => {
      const tr = document.createElement("tr");
      tr.appendChild(text("td", r.route || "(none)", "labels"));
      tr.appendChild(text("td", fmt(r.requests_per_second, 2)));
      tr.appendChild(text("td", fmt(r.requests, 0)));
      tr.appendChild(text("td", fmt(r.error_rate * 100, 2) + " %"));
      [r.p50, r.p95, r.p99].forEach((q) => tr.appendChild(text("td", fmtSeconds(q))));
      rows.appendChild(tr);
    });
    if (omitted > 0) {
      const tr = document.createElement("tr");
      tr.appendChild(text("td", `… ${omitted} quieter routes not shown`, "labels"));
      rows.appendChild(tr);
    }
    $("routes").replaceChildren(rows);
  }

  function renderSeries(series) {
    const rows = document.createDocumentFragment();
    series
      .filter((m) => !filter || m.name.includes(filter))
      .forEach((m) => {
        const tr = document.createElement("tr");
        tr.appendChild(text("td", m.name));
        tr.appendChild(text("td", m.type));
        const labels = Object.entries(m.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
        tr.appendChild(text("td", labels, "labels"));
        tr.appendChild(text("td", fmtValue(m.value)));
        rows.appendChild(tr);
      });
    $("series").replaceChildren(rows);
  }

  function renderAlerts(alerts) {
    const list = $("alerts");
    if (!alerts || alerts.length === 0) {
      list.replaceChildren(text("li", "none", "muted"));
      return;
    }
    list.replaceChildren(...alerts.map((a) => text("li", `${a.name} (${a.state}) value=${fmt(a.value, 3)}`, a.state)));
  }

  async function refresh() {
    const windowName = $("window").value;
    try {
      const query = `?window=${encodeURIComponent(windowName)}`;  // relative: works under any mount prefix
      const response = await fetch("api/dashboard" + query, { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      const d = body.data, available = body.available;
      document.querySelectorAll("[data-needs]").forEach((el) => { el.hidden = !available[el.dataset.needs]; });
      $("rps").textContent = fmt(d.application.requests_per_second, 1);  // the tile's label names the unit
      $("error_rate").textContent = UNITS.errors(d.application.error_rate);
      $("p95").textContent = fmtSeconds(d.application.response_time_p95);
      $("active").textContent = fmt(body.active_requests, 0);
      $("cpu").textContent = UNITS.cpu(d.system.cpu_usage);
      $("memory").textContent = UNITS.memory(d.system.memory_usage);
      $("orders").textContent = fmt(d.business.orders_today, 0);
      $("revenue").textContent = fmt(d.business.revenue_today, 2);
      $("users").textContent = fmt(d.business.active_users, 0);
      $("uptime").textContent = fmtDuration(d.system.uptime);
      const h = body.history;
      drawLine("rps", h, "requests_per_second");
      drawLine("errors", h, "error_rate");
      drawLine("p95", h, "response_time_p95");
      drawLine("cpu", h, "cpu_usage");
      drawLine("memory", h, "memory_usage");
      drawBars(body.latency);
      renderRoutes(body.routes, body.routes_omitted);
      renderAlerts(d.alerts);
      renderSeries(body.series);
      $("status").textContent = `updated ${new Date().toLocaleTimeString()} · window ${windowName}`;
      document.body.dataset.window = windowName;
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    } catch (err) {
      $("status").textContent = `update failed: ${err.message}`;
    }
  }

  ["rps", "errors", "p95", "cpu", "memory", "latency"].forEach(hover);
  $("filter").addEventListener("input", (e) => { filter = e.target.value; refresh(); });
  $("window").addEventListener("change", refresh);
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
