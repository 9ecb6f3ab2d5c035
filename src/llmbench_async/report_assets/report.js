/* llmbench-async HTML report: draws every chart from the JSON embedded in the page (uPlot). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("llmbench-data").textContent);
  var css = getComputedStyle(document.documentElement);
  function v(name) { return css.getPropertyValue(name).trim(); }
  var palette = ["--c1", "--c2", "--c3", "--c4", "--c5", "--c6"].map(v);
  var drawn = [];
  window.llmbenchCharts = drawn;

  function axes(xLabel, yLabel) {
    var common = { stroke: v("--muted"), grid: { stroke: v("--line"), width: 1 },
      ticks: { stroke: v("--line"), width: 1 } };
    return [Object.assign({ label: xLabel }, common), Object.assign({ label: yLabel }, common)];
  }

  function shadeMarks(marks) {
    return { hooks: { drawClear: [function (u) {
      (marks || []).forEach(function (m) {
        var x0 = u.valToPos(m.start_s, "x", true), x1 = u.valToPos(m.end_s, "x", true);
        u.ctx.save();
        u.ctx.fillStyle = v("--mark");
        u.ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
        u.ctx.restore();
      });
    }] } };
  }

  function chart(parentId, title, opts, series, xy) {
    var parent = document.getElementById(parentId);
    if (!parent) { return; }
    var box = document.createElement("div");
    box.className = "chart";
    box.dataset.chart = title;
    var h = document.createElement("h3");
    h.textContent = title;
    box.appendChild(h);
    parent.appendChild(box);
    var width = Math.max(320, box.clientWidth - 16);
    var xSeries = { label: opts.xLabel, value: opts.xValue || legendValue };
    var o = Object.assign({ width: width, height: 240, series: [xSeries].concat(series),
      axes: axes(opts.xLabel, opts.yLabel), scales: { x: { time: false } } }, opts.extra || {});
    var colors = series.map(function (s) { return s.stroke; });
    var points = xy.slice(1).reduce(function (n, ys) {
      return n + ys.filter(function (y) { return y !== null && y !== undefined; }).length;
    }, 0);
    var u = new uPlot(o, xy, box);
    drawn.push({ title: title, chart: u, box: box, colors: colors, points: points });
  }

  // legend values: blank until the cursor is on the chart (the legend is then only a key),
  // the value under the cursor on hover, "no data" where a series has none
  function legendValue(u, raw, seriesIdx, idx) {
    if (idx === null || idx === undefined) { return ""; }
    if (raw === null || raw === undefined) { return "no data"; }
    return fmt(raw);
  }

  function fmt(x) {
    return Math.abs(x) >= 1000 || Number.isInteger(x) ? x.toLocaleString("en", { maximumFractionDigits: 0 })
      : String(+x.toPrecision(4));
  }

  function line(label, i, extra) {
    // points: uPlot's default, drawn when the data is sparse (a one-window run still shows)
    return Object.assign({ label: label, stroke: palette[i % palette.length], width: 1.5,
      spanGaps: true, value: legendValue }, extra || {});
  }

  // a histogram: one equal-width bar per bucket (x = the bucket's index), whatever the
  // buckets' widths in ms (the last one runs to the maximum), labelled by their bounds
  function histogram(prefix, title, hist) {
    var edges = hist.edges, n = edges.length;
    var index = edges.map(function (e, i) { return i; });
    var lower = function (i) { return i === 0 ? null : edges[i - 1]; };
    var bucket = function (i) {
      return (lower(i) === null ? "≤ " : fmt(lower(i)) + "–") + fmt(edges[i]) + " ms";
    };
    var both = axes("ms (bucket upper bound)", "requests");
    both[0] = Object.assign(both[0], { space: 48, incrs: [1, 2, 4, 5, 10, 20, 50], values: function (u, splits) {
      return splits.map(function (s) { return Number.isInteger(s) && s >= 0 && s < n ? fmt(edges[s]) : ""; });
    } });
    var extra = { axes: both, scales: { x: { time: false, range: [-0.5, n - 0.5] } } };
    var opts = { xLabel: "ms (bucket upper bound)", yLabel: "requests", extra: extra,
      xValue: function (u, raw, s, idx) { return idx === null || idx === undefined ? "" : bucket(idx); } };
    var bars = uPlot.paths.bars({ size: [0.85, Infinity], align: 0 });
    chart(prefix, title, opts, [line("requests", 0, { paths: bars, fill: palette[0], points: { show: false } })],
      [index, hist.counts]);
  }

  function distributions(run, prefix) {
    var metrics = [["ttft_ms", "TTFT"], ["e2e_ms", "E2E"], ["itl_ms", "ITL"], ["tpot_ms", "TPOT"]];
    metrics.forEach(function (m) {
      var d = run.dist[m[0]];
      if (!d) { return; }
      histogram(prefix, m[1] + " histogram (ms)", d.hist);
      chart(prefix, m[1] + " CDF", { xLabel: "ms", yLabel: "fraction ≤ x" },
        [line(run.name, 0)], [d.cdf.x, d.cdf.q]);
    });
  }

  function timeCharts(run, host) {
    var ts = run.timeseries;
    if (!ts || !ts.windows.start_s.length) { return; }
    var w = ts.windows, x = w.start_s.map(function (s) { return s + ts.window_s; });
    var per = function (arr) { return arr.map(function (n) { return n / ts.window_s; }); };
    var opts = function (y) { return { xLabel: "seconds from start", yLabel: y, extra: shadeMarks(ts.marks) }; };
    chart(host, "Requests per second", opts("requests/s"),
      [line("started/s", 0), line("finished/s", 1), line("ok/s", 2)],
      [x, per(w.started), per(w.finished), per(w.ok)]);
    if (w.scheduled) {  // saved before the offered load was kept: no such chart
      chart(host, "Offered vs achieved load", opts("requests/s"),
        [line("offered/s (due)", 0), line("achieved/s (ok)", 2)],
        [x, per(w.scheduled), per(w.ok)]);
    }
    chart(host, "Latency per window (ms)", opts("ms"),
      [line("TTFT p50", 0), line("TTFT p99", 0, { dash: [5, 4] }),
       line("E2E p50", 1), line("E2E p99", 1, { dash: [5, 4] }),
       line("ITL p50", 2), line("ITL p99", 2, { dash: [5, 4] })],
      [x, w.ttft_ms.p50, w.ttft_ms.p99, w.e2e_ms.p50, w.e2e_ms.p99, w.itl_ms.p50, w.itl_ms.p99]);
    var twin = opts("requests in flight");
    var right = axes("", "output tokens/s")[1];
    twin.extra = Object.assign({ axes: axes(twin.xLabel, twin.yLabel).concat(
      [Object.assign(right, { scale: "tok", side: 1, grid: { show: false } })]) }, twin.extra);
    chart(host, "In flight and output tokens/s", twin,
      [line("in flight", 3), line("output tokens/s", 4, { scale: "tok" })],
      [x, w.in_flight, w.output_tokens_per_s]);
    var kinds = Object.keys(w.failed);
    var errs = [x].concat(kinds.map(function (k) { return w.failed[k]; }));
    if (!kinds.length) { errs.push(w.started.map(function () { return 0; })); kinds = ["none"]; }
    chart(host, "Errors per window", opts("failed requests"),
      kinds.map(function (k, i) { return line(k, i + 1); }), errs);
    serverCharts(ts, host);
  }

  function serverCharts(ts, host) {
    var server = ts.server;
    if (!server) { return; }
    Object.keys(server.metrics).forEach(function (key, i) {
      var m = server.metrics[key];
      if (!m.t_s.length) { return; }
      chart(host, "Server: " + m.label + " (" + m.source + ")",
        { xLabel: "seconds from start", yLabel: m.label, extra: shadeMarks(ts.marks) },
        [line(m.label, i)], [m.t_s, m.value]);
    });
  }

  function align(runs, pick) {
    var xs = {}, maps = runs.map(function (r) {
      var mp = {}, ts = r.timeseries;
      if (!ts) { return mp; }
      ts.windows.start_s.forEach(function (s, i) {
        var k = +(s + ts.window_s).toFixed(6);
        xs[k] = 1; mp[k] = pick(ts)[i];
      });
      return mp;
    });
    var x = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    return [x].concat(maps.map(function (mp) {
      return x.map(function (k) { return k in mp ? mp[k] : null; });
    }));
  }

  function compareCharts(runs) {
    [["ttft_ms", "TTFT"], ["e2e_ms", "E2E"], ["itl_ms", "ITL"], ["tpot_ms", "TPOT"]].forEach(function (m) {
      var have = runs.filter(function (r) { return r.dist && r.dist[m[0]]; });
      if (have.length < 2) { return; }
      var qs = have[0].dist[m[0]].cdf.q;
      var sameQ = have.every(function (r) { return r.dist[m[0]].cdf.q.length === qs.length; });
      if (!sameQ) { return; }
      // CDF overlay as quantile functions: x = fraction, y = ms (one shared x for both runs)
      chart("compare-charts", m[1] + ": BASE vs NEW (quantile plot)", { xLabel: "fraction of requests", yLabel: "ms" },
        have.map(function (r, i) { return line(r.name, i); }),
        [qs].concat(have.map(function (r) { return r.dist[m[0]].cdf.x; })));
    });
    if (runs.every(function (r) { return r.timeseries; })) {
      chart("compare-charts", "TTFT p50 per window: BASE vs NEW", { xLabel: "seconds from start", yLabel: "ms" },
        runs.map(function (r, i) { return line(r.name, i); }), align(runs, function (ts) { return ts.windows.ttft_ms.p50; }));
      chart("compare-charts", "Finished requests per window: BASE vs NEW", { xLabel: "seconds from start", yLabel: "requests" },
        runs.map(function (r, i) { return line(r.name, i); }), align(runs, function (ts) { return ts.windows.finished; }));
    }
  }

  function sweepChart(sweep) {
    var pts = sweep.levels.filter(function (l) { return l.rps !== null; })
      .sort(function (a, b) { return a.rps - b.rps; });
    if (!pts.length) { return; }
    var cap = sweep.capacity;
    // a lower bound (every level passed) is not a capacity found: say so, as the page does
    var capText = sweep.capacity_bound === "lower" ? "capacity \u2265 " + cap + " (not reached)" : "capacity under SLO";
    // left of the point when the text would leave the plot; uPlot may leave textAlign right
    function label(u, text, x, y) {
      var right = u.bbox.left + u.bbox.width, w = u.ctx.measureText(text).width;
      var flip = x + 6 * devicePixelRatio + w > right;
      u.ctx.textAlign = flip ? "right" : "left";
      u.ctx.fillText(text, flip ? x - 6 * devicePixelRatio : x + 6 * devicePixelRatio, y);
    }
    var hooks = { hooks: { draw: [function (u) {
      pts.forEach(function (p) {
        var cx = u.valToPos(p.rps, "x", true), cy = u.valToPos(p.ttft_p99 || 0, "y", true);
        u.ctx.save();
        u.ctx.fillStyle = v("--muted");
        u.ctx.font = (11 * devicePixelRatio) + "px sans-serif";
        u.ctx.textBaseline = "alphabetic";
        label(u, p.label, cx, cy - 6 * devicePixelRatio);
        if (cap !== null && p.label === cap) {
          u.ctx.strokeStyle = v("--ok");
          u.ctx.lineWidth = 2 * devicePixelRatio;
          u.ctx.setLineDash([6, 4]);
          u.ctx.beginPath(); u.ctx.moveTo(cx, u.bbox.top); u.ctx.lineTo(cx, u.bbox.top + u.bbox.height); u.ctx.stroke();
          u.ctx.fillStyle = v("--ok");
          label(u, capText, cx, u.bbox.top + 14 * devicePixelRatio);
        }
        u.ctx.restore();
      });
    }] } };
    chart("sweep-charts", "Throughput vs latency p99 per level", { xLabel: "requests/s", yLabel: "ms", extra: hooks },
      [line("TTFT p99", 0, { points: { show: true, size: 7 } }), line("E2E p99", 1, { points: { show: true, size: 7 } })],
      [pts.map(function (p) { return p.rps; }), pts.map(function (p) { return p.ttft_p99; }),
       pts.map(function (p) { return p.e2e_p99; })]);
  }

  if (data.kind === "compare") {
    compareCharts(data.runs);
  } else if (data.kind === "sweep") {
    sweepChart(data.sweep);
    data.runs.forEach(function (r, i) { timeCharts(r, "levels-" + i); });
  } else {
    distributions(data.runs[0], "dist-charts");
    timeCharts(data.runs[0], "time-charts");
  }
  document.body.dataset.chartsDrawn = String(drawn.length);
})();
