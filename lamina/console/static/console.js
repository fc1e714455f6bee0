// Lamina console: table sorting/filtering and the function page's charts (uPlot) and
// Invoke box. Loaded from the package; no inline scripts (the CSP forbids them).
"use strict";

(function () {
  // -- functions list -------------------------------------------------------------------
  const table = document.getElementById("functions");
  if (table) {
    const body = table.tBodies[0];
    const filter = document.getElementById("filter");
    filter.addEventListener("input", () => {
      const q = filter.value.trim().toLowerCase();
      for (const row of body.rows) {
        row.hidden = q !== "" && !row.textContent.toLowerCase().includes(q);
      }
    });
    table.tHead.querySelectorAll("th[data-sort]").forEach((th, index) => {
      th.addEventListener("click", () => {
        const dir = th.dataset.dir === "asc" ? "desc" : "asc";
        table.tHead.querySelectorAll("th").forEach((h) => delete h.dataset.dir);
        th.dataset.dir = dir;
        const numeric = th.dataset.sort === "num";
        const key = (row) => {
          const text = row.cells[index].textContent.trim();
          if (!numeric) return text.toLowerCase();
          const n = parseFloat(text);
          return Number.isNaN(n) ? -Infinity : n;
        };
        const rows = Array.from(body.rows).sort((a, b) => {
          const x = key(a), y = key(b);
          return (x < y ? -1 : x > y ? 1 : 0) * (dir === "asc" ? 1 : -1);
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  }

  // -- cost page: the bill per day (when grouped by day) ------------------------------------
  const days = document.getElementById("cost-days");
  if (days && window.uPlot) {
    const perDay = JSON.parse(days.dataset.days);
    const keys = Object.keys(perDay);
    if (keys.length) {
      const data = [keys.map((d) => Date.parse(d + "T00:00:00Z") / 1000),
                    keys.map((d) => perDay[d])];
      window.laminaCharts = { costDays: new uPlot({
        width: Math.max(320, days.clientWidth || 600), height: 220,
        series: [{}, { label: "millionths of a USD per day", stroke: "#0b5cad", width: 1.5,
                       points: { show: true, size: 5 } }],
        axes: [{}, { size: 80 }],
      }, data, days) };
    }
  }

  // -- function page --------------------------------------------------------------------
  const heading = document.getElementById("function");
  if (!heading) return;
  const meta = JSON.parse(heading.dataset.function);
  const api = "/console/api/functions/" + encodeURIComponent(meta.name);
  const charts = (window.laminaCharts = {});
  const colours = ["#0b5cad", "#b42318", "#b54708", "#067647"];

  const specs = {
    invocations: { series: ["invocations", "errors", "throttles"] },
    duration: { series: ["p50_ms", "p99_ms"] },
    success: { series: ["success_pct"] },
    cold: { series: ["cold_starts", "init_avg_ms"] },
    memory: { series: ["max_memory_mb", "configured_mb"] },
    concurrency: { series: ["concurrency_avg", "concurrency_limit"] },
    cost: { series: ["cost_hour_micro_usd"] },
  };

  function draw(columns) {
    columns.configured_mb = columns.t.map(() => meta.memory_mb);
    columns.concurrency_limit = columns.t.map(() => meta.concurrency_limit);
    // Micro-dollars: per-minute costs are far below one cent.
    columns.cost_hour_micro_usd = columns.cost_usd_hour.map((v) => (v == null ? null : v * 1e6));
    for (const [key, spec] of Object.entries(specs)) {
      const data = [columns.t, ...spec.series.map((name) => columns[name])];
      if (charts[key]) {
        charts[key].setData(data);
        continue;
      }
      const el = document.getElementById("chart-" + key);
      const opts = {
        width: Math.max(320, el.clientWidth || 420),
        height: 200,
        series: [{}, ...spec.series.map((label, i) => ({
          label, stroke: colours[i % colours.length], width: 1.5, spanGaps: false,
          // Sparse minutes (a few invokes) are single points: draw the points too.
          points: { show: true, size: 4 },
        }))],
        axes: [{}, { size: 60 }],
      };
      charts[key] = new uPlot(opts, data, el);
    }
  }

  // The charts' range: the last N minutes, or a custom one (UTC, as the log lines are).
  const rangeSelect = document.getElementById("range");
  const customForm = document.getElementById("range-custom");
  const rangeError = document.getElementById("range-error");
  function seriesQuery() {
    if (rangeSelect.value !== "custom") return "minutes=" + rangeSelect.value;
    const utc = (id) => Math.floor(Date.parse(document.getElementById(id).value + "Z") / 1000);
    const from = utc("range-from"), to = utc("range-to");
    // The server checks the range too; what the form can tell is said without asking it.
    if (!(from < to)) return null;
    return "from=" + from + "&to=" + to;
  }
  async function refresh() {
    const query = seriesQuery();
    if (query === null) {
      rangeError.textContent = "From must be before To.";
      return;
    }
    const resp = await fetch(api + "/series?" + query, { credentials: "same-origin" });
    if (resp.status === 400) {
      rangeError.textContent = (await resp.json()).message;
      return;
    }
    if (!resp.ok) throw new Error("series: HTTP " + resp.status);
    rangeError.textContent = "";
    draw(await resp.json());
  }

  // Live tail: the function's telemetry events (the same ones the Telemetry API hands
  // extensions), polled after the last one seen; the last 500 lines kept.
  const tail = document.getElementById("tail");
  let lastSeq = 0;
  async function pollTail() {
    try {
      const resp = await fetch(api + "/logs?after=" + lastSeq, { credentials: "same-origin" });
      if (resp.ok) {
        const body = await resp.json();
        for (const [ms, type, text] of body.events) {
          const line = new Date(ms).toISOString().slice(11, 23) + "  " + text;
          const row = document.createElement("span");
          row.className = "ev-" + type.replace(/\./g, "-");
          row.textContent = line + "\n";
          tail.append(row);
        }
        lastSeq = body.last;
        while (tail.childNodes.length > 500) tail.removeChild(tail.firstChild);
      }
    } catch (err) {
      // The server is restarting or the page is going away: poll again later.
    } finally {
      setTimeout(pollTail, 1000);
    }
  }
  pollTail();

  rangeSelect.addEventListener("change", () => {
    customForm.hidden = rangeSelect.value !== "custom";
    if (!customForm.hidden) {
      // Start from the last hour, in UTC, to the minute.
      const now = Date.now();
      const minute = (ms) => new Date(ms).toISOString().slice(0, 16);
      if (!document.getElementById("range-to").value) {
        document.getElementById("range-from").value = minute(now - 3600 * 1000);
        document.getElementById("range-to").value = minute(now);
      }
      return;
    }
    refresh();
  });
  customForm.addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  document.getElementById("invoke").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = document.getElementById("invoke-result");
    out.textContent = "Invoking…";
    const resp = await fetch(api + "/invoke", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Lamina-Console": "1" },
      body: event.target.elements.payload.value,
    });
    const body = await resp.json();
    out.dataset.status = String(resp.status);
    out.textContent = resp.ok
      ? (body.functionError ? "Function error (" + body.functionError + ")\n" : "") +
        body.payload + "\n\n" + body.log
      : "Error: " + body.message;
    await refresh();
    await loadHistory();
  });

  // Recent invocations: an invocation's log lines are fetched when its details open.
  document.querySelectorAll("#invocations details.invocation").forEach((item) => {
    item.addEventListener("toggle", async () => {
      const out = item.querySelector("pre.logs");
      if (!item.open || out.dataset.loaded) return;
      const resp = await fetch(api + "/invocations/" + encodeURIComponent(item.dataset.requestId)
                               + "/logs", { credentials: "same-origin" });
      const body = resp.ok ? await resp.json() : { lines: [] };
      out.textContent = body.lines.length ? body.lines.join("\n")
        : "No log lines found (only the end of each log stream is searched).";
      out.dataset.loaded = "1";
    });
  });

  // Payload history: the last payloads run from the Invoke box, newest first.
  const history = document.getElementById("history");
  history.addEventListener("change", () => {
    if (history.value) document.querySelector("#invoke textarea").value = history.value;
  });
  async function loadHistory() {
    const resp = await fetch(api + "/payloads", { credentials: "same-origin" });
    if (!resp.ok) return;
    const body = await resp.json();
    history.replaceChildren(new Option("—", ""));
    for (const p of body.payloads) {
      history.append(new Option(p.length > 80 ? p.slice(0, 77) + "..." : p, p));
    }
  }
  // Tune and compare: start `lamina tune`/`compare` on the server, poll, draw the curve.
  const tuneForm = document.getElementById("tune");
  const tuneStatus = document.getElementById("tune-status");
  const num = (v) => (v == null ? null : Number(v));
  function tuneCurve(result, kind) {
    const sides = kind === "compare" ? [result.a, result.b] : [{ function: meta.name, tuning: result }];
    const sizes = Array.from(new Set(sides.flatMap((s) => s.tuning.sizes.map((z) => z.memory_mb))))
      .sort((a, b) => a - b);
    const series = [], columns = [sizes];
    for (const side of sides) {
      const by = new Map(side.tuning.sizes.map((z) => [z.memory_mb, z]));
      series.push(side.function + " USD per million");
      columns.push(sizes.map((m) => num(by.get(m) && by.get(m).cost_per_million)));
      series.push(side.function + " p50 billed ms");
      columns.push(sizes.map((m) => num(by.get(m) && by.get(m).billed_ms && by.get(m).billed_ms.p50)));
    }
    return { series, columns };
  }
  function drawTune(result, kind) {
    const { series, columns } = tuneCurve(result, kind);
    const el = document.getElementById("chart-tune");
    if (charts.tune) { charts.tune.destroy(); el.replaceChildren(); }
    charts.tune = new uPlot({
      width: Math.max(320, el.clientWidth || 600), height: 240,
      scales: { x: { time: false }, ms: {} },
      series: [{ label: "MB" }, ...series.map((label, i) => ({
        label, stroke: colours[i % colours.length], width: 1.5,
        scale: label.endsWith("ms") ? "ms" : "y", points: { show: true, size: 6 },
      }))],
      axes: [{ label: "memory (MB)" }, { scale: "y", size: 70 }, { scale: "ms", side: 1, size: 60 }],
    }, columns, el);
  }
  tuneForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const kind = (event.submitter && event.submitter.value) || "tune";
    const f = tuneForm.elements;
    tuneStatus.dataset.status = "running";
    tuneStatus.textContent = "Running lamina " + kind + "…";
    const resp = await fetch(api + "/" + kind, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Lamina-Console": "1" },
      body: JSON.stringify({
        memory: f.memory.value, invocations: Number(f.invocations.value), other: f.other.value,
        payload: document.querySelector("#invoke textarea").value,
      }),
    });
    const started = await resp.json();
    if (!resp.ok) {
      tuneStatus.dataset.status = "refused";
      tuneStatus.textContent = "Error: " + started.message;
      return;
    }
    let job;
    do {
      await new Promise((r) => setTimeout(r, 1000));
      const poll = await fetch("/console/api/jobs/" + started.job, { credentials: "same-origin" });
      job = await poll.json();
    } while (job.status === "running");
    if (job.result) drawTune(job.result, kind);
    tuneStatus.dataset.status = job.status;
    tuneStatus.textContent = job.status === "succeeded"
      ? (kind === "compare" ? job.result.verdict
         : "Recommended: " + job.result.recommended_memory_mb + " MB (" + job.result.strategy + ")")
      : "Failed: " + job.error;
  });
  refresh();
})();
