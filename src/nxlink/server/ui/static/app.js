// nxlink dashboard: draws the charts (uPlot) from the JSON the page carries, again after
// htmx swaps a live region in, and at the chart's new width when the window is resized.
"use strict";
(function () {
  const charts = new Map();

  function data(el) {
    const source = document.getElementById(el.dataset.source);
    return source ? JSON.parse(source.textContent) : null;
  }

  // Counts: whole-number ticks, from 0, with room above the highest.
  const whole = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000,
    100000, 200000, 500000, 1000000];
  const counts = { range: (u, min, max) => [0, Math.max(1, max) * 1.15] };

  function activity(el, d) {
    const half = d.bucket_s / 2;
    const opts = {
      width: el.clientWidth, height: 220,
      scales: {
        // A fixed range, a bucket wider either side (uPlot leaves a single point unranged).
        x: { time: true, auto: false,
             range: [d.ts[0] - d.bucket_s, d.ts[d.ts.length - 1] + 2 * d.bucket_s] },
        y: counts,
      },
      series: [
        {},
        { label: "Calls", stroke: "#0b5cad", fill: "rgba(11,92,173,0.30)",
          paths: uPlot.paths.bars({ size: [0.9, 80], align: 0 }), points: { show: false } },
        { label: "Answered", stroke: "#116329", fill: "rgba(17,99,41,0.45)",
          paths: uPlot.paths.bars({ size: [0.9, 80], align: 0 }), points: { show: false } },
      ],
      axes: [{}, { label: "calls", incrs: whole }],
    };
    return new uPlot(opts, [d.ts.map((ts) => ts + half), d.calls, d.answered], el);
  }

  function results(el, d) {
    const xs = d.map((_, i) => i);
    const opts = {
      width: el.clientWidth, height: 220,
      scales: { x: { time: false, range: [-0.5, Math.max(d.length - 0.5, 0.5)] }, y: counts },
      series: [
        { value: (u, i) => (i == null || !d[i] ? "" : d[i].result + " " + d[i].name) },
        { label: "Calls", stroke: "#0b5cad", fill: "rgba(11,92,173,0.35)",
          paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } },
      ],
      axes: [
        { splits: () => xs, values: (u, splits) => splits.map((i) => (d[i] ? String(d[i].result) : "")) },
        { label: "calls", incrs: whole },
      ],
    };
    return new uPlot(opts, [xs, d.map((row) => row.count)], el);
  }

  function draw(root) {
    if (typeof uPlot === "undefined") return;
    (root || document).querySelectorAll("[data-chart]").forEach((el) => {
      const d = data(el);
      if (!d) return;
      if ((d.ts || d).length === 0) {
        el.textContent = "No calls yet.";
        return;
      }
      const old = charts.get(el.dataset.chart);
      if (old) old.destroy();
      el.replaceChildren();
      const chart = el.dataset.chart === "activity" ? activity(el, d) : results(el, d);
      charts.set(el.dataset.chart, chart);
    });
  }

  document.addEventListener("DOMContentLoaded", () => draw(document));
  document.addEventListener("htmx:afterSwap", (event) => draw(event.target));
  let resizing = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      document.querySelectorAll("[data-chart]").forEach((el) => {
        const chart = charts.get(el.dataset.chart);
        if (chart) chart.setSize({ width: el.clientWidth, height: 220 });
      });
    }, 150);
  });
})();
