// Draws the dashboard's charts from the JSON the page carries (#dashboard-data). Chart.js is
// vendored (static/vendor/chartjs/); without it the numbers stay readable in the cards and CSVs.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("dashboard-data");
    if (!source || typeof window.Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var css = getComputedStyle(document.documentElement);
    var text = css.getPropertyValue("--body-quiet-color").trim() || "#667085";
    var grid = css.getPropertyValue("--hairline-color").trim() || "#e3e6ea";
    Chart.defaults.color = text;
    Chart.defaults.borderColor = grid;
    Chart.defaults.font.family = css.getPropertyValue("--font-family-primary");
    var common = { responsive: true, maintainAspectRatio: false, animation: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } };
    function chart(id, type, labels, datasets, options) {
      var canvas = document.getElementById(id);
      if (canvas) new Chart(canvas, { type: type, data: { labels: labels, datasets: datasets }, options: Object.assign({}, common, options || {}) });
    }
    var t = data.texts;
    chart("chart-tickets", "line", data.labels, [
      { label: t.opened, data: data.opened, borderColor: "#0f766e", backgroundColor: "#0f766e33", fill: true, tension: 0.25 },
      { label: t.closed, data: data.closed, borderColor: "#6366f1", backgroundColor: "#6366f133", fill: false, tension: 0.25 }
    ]);
    chart("chart-messages", "bar", data.labels, [
      { label: t.inbound, data: data.inbound, backgroundColor: "#14b8a6" },
      { label: t.outbound, data: data.outbound, backgroundColor: "#6366f1" }
    ]);
    chart("chart-waiting", "bar", data.queues, [
      { label: t.waiting, data: data.waiting, backgroundColor: "#f59e0b" }
    ], { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } });
    chart("chart-ratings", "bar", data.ratings, [
      { label: t.tickets, data: data.rating_counts, backgroundColor: "#22c55e" }
    ], { plugins: { legend: { display: false } } });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
