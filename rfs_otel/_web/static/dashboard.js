// rfs_otel dashboard: polls api/dashboard and draws SVG line charts. No external code; data only via textContent.
"use strict";
(function () {
  const REFRESH_MS = 2000;
  const $ = (id) => document.getElementById(id);
  let filter = "";

  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (value === "+Inf" || value === "-Inf") return value;  // the JSON API's spelling of infinities
    return Number(value).toFixed(digits);
  }
  function fmtBytes(bytes) {
    if (bytes === null || bytes === undefined) return "–";
    return (bytes / 1048576).toFixed(1) + " MiB";
  }
  function fmtDuration(seconds) {
    const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
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

  function draw(svgId, points) {
    const svg = $(svgId);
    const values = points.filter((p) => p !== null && p !== undefined && Number.isFinite(p));
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (values.length < 2) return;
    const max = Math.max(...values), min = Math.min(0, ...values), span = max - min || 1;
    const step = 300 / (points.length - 1);
    const coords = [];
    points.forEach((p, i) => {
      if (p === null || p === undefined || !Number.isFinite(p)) return;
      coords.push(`${(i * step).toFixed(1)},${(100 - ((p - min) / span) * 95).toFixed(1)}`);
    });
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", coords.join(" "));
    svg.appendChild(line);
    svg.dataset.points = String(coords.length);
  }

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  function renderSeries(series) {
    const body = $("series");
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
    body.replaceChildren(rows);
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
    try {
      const response = await fetch("api/dashboard", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      const d = body.data;
      $("rps").textContent = fmt(d.application.requests_per_second, 1);
      $("error_rate").textContent = fmt(d.application.error_rate * 100, 2) + " %";
      $("p95").textContent = d.application.response_time_p95 === null ? "–" : fmt(d.application.response_time_p95 * 1000, 1) + " ms";
      $("cpu").textContent = fmt(d.system.cpu_usage, 1) + " %";
      $("memory").textContent = fmtBytes(d.system.memory_usage);
      $("orders").textContent = fmt(d.business.orders_today, 0);
      $("uptime").textContent = fmtDuration(d.system.uptime);
      const h = body.history;
      draw("chart-rps", h.map((p) => p.requests_per_second));
      draw("chart-errors", h.map((p) => p.error_rate));
      draw("chart-p95", h.map((p) => p.response_time_p95));
      draw("chart-cpu", h.map((p) => p.cpu_usage));
      draw("chart-memory", h.map((p) => p.memory_usage / 1048576));
      renderAlerts(d.alerts);
      renderSeries(body.series);
      $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    } catch (err) {
      $("status").textContent = `update failed: ${err.message}`;
    }
  }

  $("filter").addEventListener("input", (e) => { filter = e.target.value; refresh(); });
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
