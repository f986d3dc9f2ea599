// The portal's "Insights" page (#/insights): the lead-time report drawn with Chart.js,
// which is bundled into the portal's static files (chart.umd.min.js, `make portal-vendor`
// from services/gateway/portal-build's lock file): no CDN at run time.
// Uses portal.js's api/el/show (loaded after this file; called only once it has loaded).
"use strict";

const INSIGHT_OUTCOMES = ["completed", "failed", "rolled_back", "rejected", "expired", "cancelled"];
const INSIGHT_COLOURS = ["#3451b2", "#067647", "#b42318", "#b54708", "#6941c6", "#667085", "#0e7090", "#c11574"];
let insightCharts = [];

function hours(seconds) { return seconds === null || seconds === undefined ? null : Math.round(seconds / 36) / 100; }
function percent(share) { return share === null || share === undefined ? "–" : `${Math.round(share * 1000) / 10}%`; }
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (seconds >= size) return `${Math.round(seconds / size * 10) / 10}${unit}`;
  }
  return `${Math.round(seconds * 10) / 10}s`;
}

function chartCard(title, id) {
  return el("div", { className: "card" }, el("h3", {}, title), el("div", { className: "chart" }, el("canvas", { id })));
}

function drawInsights(report) {
  for (const chart of insightCharts) chart.destroy();
  insightCharts = [];
  const items = report.items;
  const names = items.map(i => i.name || i.item_id);
  const periods = [...new Set(items.flatMap(i => i.series.map(s => s.period)))].sort();
  const common = { responsive: true, maintainAspectRatio: false, animation: false };
  insightCharts.push(new Chart(document.getElementById("insights-lead-time"), {
    type: "line",
    data: {
      labels: periods.map(p => p.slice(0, 10)),
      datasets: items.map((item, n) => ({
        label: names[n],
        data: periods.map(p => hours(item.series.find(s => s.period === p)?.lead_p50_s ?? null)),
        borderColor: INSIGHT_COLOURS[n % INSIGHT_COLOURS.length], spanGaps: true,
      })),
    },
    options: { ...common, scales: { y: { title: { display: true, text: "p50 lead time (hours)" }, beginAtZero: true } } },
  }));
  insightCharts.push(new Chart(document.getElementById("insights-modes"), {
    type: "bar",
    data: {
      labels: names,
      datasets: ["automated", "manual", "fallback"].map((mode, n) => ({
        label: mode, data: items.map(i => Math.round(i.mode_share[mode] * 1000) / 10),
        backgroundColor: INSIGHT_COLOURS[n],
      })),
    },
    options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, max: 100, title: { display: true, text: "% of requests" } } } },
  }));
  insightCharts.push(new Chart(document.getElementById("insights-outcomes"), {
    type: "bar",
    data: {
      labels: names,
      datasets: [...INSIGHT_OUTCOMES.map((outcome, n) => ({
        label: outcome, data: items.map(i => i.outcomes[outcome]), backgroundColor: INSIGHT_COLOURS[(n + 1) % INSIGHT_COLOURS.length],
      })), { label: "open", data: items.map(i => i.open), backgroundColor: "#d0d5dd" }],
    },
    options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: "requests" } } } },
  }));
}

async function insightsPage() {
  // #/insights?days=N (default 90) or #/insights?since=DATE[&until=DATE]
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const days = Number(params.get("days") || 90);
  const since = params.get("since") || new Date(Date.now() - days * 86400e3).toISOString();
  const until = params.get("until");
  const period = params.get("since") ? `from ${since}${until ? ` until ${until}` : ""}` : `in the last ${days} days`;
  const { body: report } = await api(`/reports/lead-time?since=${encodeURIComponent(since)}${until ? `&until=${encodeURIComponent(until)}` : ""}&bucket=week`);
  const rows = report.items.map(i => el("tr", { "data-item": i.item_id },
    el("td", {}, i.name || i.item_id), el("td", {}, i.requests), el("td", {}, percent(i.completed_share)),
    el("td", {}, duration(i.lead_time_p50_s)), el("td", {}, duration(i.lead_time_p90_s)),
    el("td", {}, duration(i.approval_wait_p50_s)), el("td", {}, percent(i.mode_share.automated)),
    el("td", {}, i.baseline_lead_time || "–"), el("td", { className: "saved" }, percent(i.reduction_vs_baseline))));
  show(
    el("h1", {}, "Insights"),
    el("p", { className: "muted" }, `Requests submitted ${period}, per item (p50 lead time: submitted to completed).`),
    report.items.length ? null : el("p", {}, "No requests in this period."),
    el("div", { className: "card" }, el("table", { id: "insights-table" },
      el("tr", {}, ["Item", "Requests", "Completed", "p50", "p90", "Approval p50", "Automated", "Baseline", "Saved vs baseline"].map(h => el("th", {}, h))),
      rows)),
    chartCard("Lead time per item over time", "insights-lead-time"),
    chartCard("Automated vs manual", "insights-modes"),
    chartCard("Outcomes", "insights-outcomes"),
  );
  if (report.items.length) drawInsights(report);
}
