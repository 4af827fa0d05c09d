"use strict";
// Campaigns: start one, watch its KPIs and a chart of its acquisition-time
// percentiles while it runs; the history lists this session's campaigns.
const view = { shown: null, timer: null };
const SERIES = [["p50", "#1b6ac9"], ["p90", "#e08a00"], ["p99", "#b3261e"]];

function chart(timeline) {
  const svg = document.getElementById("chart");
  const points = timeline.filter(p => p.p50 !== null);
  svg.replaceChildren();
  if (!points.length) return;
  const width = 600, height = 180, pad = 4;
  const last = Math.max(...points.map(p => p.t), 1);
  const top = Math.max(...points.map(p => p.p99 || 0), 1);
  const x = t => pad + (width - 2 * pad) * t / last;
  const y = v => height - pad - (height - 2 * pad) * v / top;
  const ns = "http://www.w3.org/2000/svg";
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", 6); label.setAttribute("y", 14); label.setAttribute("font-size", "11"); label.setAttribute("fill", "#5b6470");
  label.textContent = top.toFixed(1) + " ms";
  svg.append(label);
  for (const [name, colour] of SERIES) {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.map(p => `${x(p.t).toFixed(1)},${y(p[name]).toFixed(1)}`).join(" "));
    line.setAttribute("fill", "none"); line.setAttribute("stroke", colour); line.setAttribute("stroke-width", "2");
    line.setAttribute("vector-effect", "non-scaling-stroke"); line.dataset.series = name;
    svg.append(line);
    if (points.length > 1) continue;
    const dot = document.createElementNS(ns, "circle");  // one point makes no line
    dot.setAttribute("cx", x(points[0].t)); dot.setAttribute("cy", y(points[0][name])); dot.setAttribute("r", 4);
    dot.setAttribute("fill", colour);
    svg.append(dot);
  }
}

function show(document_) {
  const k = document_.kpis;
  document.getElementById("campaign-title").textContent = `Campaign #${document_.id}`;
  document.getElementById("campaign-state").textContent = `${document_.state}${document_.error ? ": " + document_.error : ""} · `
    + `${document_.plan.attributes.join(", ")} · ${document_.plan.association} · concurrency ${document_.plan.concurrency}`;
  document.getElementById("stop").disabled = document_.state !== "running";
  const total = k.acquisition_time_ms.total || {};
  const planned = document_.planned ? ` of ${document_.planned}` : "";
  document.getElementById("kpis").replaceChildren(...[
    ["attempts", `${k.attempts}${planned}`], ["failure rate", (100 * k.failure_rate).toFixed(2) + " %"],
    ["p50 acquisition", total.p50 !== undefined ? total.p50 + " ms" : "—"],
    ["p99 acquisition", total.p99 !== undefined ? total.p99 + " ms" : "—"],
    ["meters/s", k.meters_per_s], ["attempts/s", k.attempts_per_s], ["successes", k.successes], ["elapsed", k.elapsed_s + " s"],
  ].map(([name, value]) => element("div", { "data-kpi": name }, element("span", { class: "stat", text: name }), element("b", { text: value }))));
  document.getElementById("phases").replaceChildren(...Object.entries(k.acquisition_time_ms).map(([phase, f]) =>
    element("tr", {}, element("td", { text: phase }),
      ...["min", "p50", "p90", "p99", "max", "mean"].map(n => element("td", { class: "num", text: f ? f[n] : "—" })))));
  const failures = Object.entries(k.failures_by_name);
  document.getElementById("failures").replaceChildren(...(failures.length ? failures.flatMap(([name, count]) =>
    [element("dt", { class: "bad", text: name }), element("dd", { text: count })]) : [element("dt", { text: "none" })]));
  chart(document_.timeline);
}

async function watch(id) {
  view.shown = id;
  clearTimeout(view.timer);
  try {
    const document_ = await getJson("/api/campaigns/" + id);
    if (view.shown !== id) return;
    show(document_);
    if (document_.state === "running") view.timer = setTimeout(() => watch(id), 500);
  } catch (error) { document.getElementById("campaign-state").textContent = error.message; }
  history();
}

async function history() {
  const campaigns = await getJson("/api/campaigns").catch(() => []);
  document.getElementById("history").replaceChildren(...campaigns.map(c => {
    const row = element("tr", { class: "meter" + (c.id === view.shown ? " active" : "") },
      ...[c.id, c.state, c.plan.meters, c.plan.association, c.attempts, c.failures].map(v => element("td", { text: v })));
    row.addEventListener("click", () => watch(c.id));
    return row;
  }));
}

document.getElementById("plan").addEventListener("submit", async event => {
  event.preventDefault();
  const form = event.target, result = document.getElementById("plan-result");
  clearErrors(form);
  result.textContent = "";
  const f = form.elements;
  const plan = { meters: f.meters.value, association: f.association.value,
                 attributes: f.attributes.value.split(",").map(s => s.trim()).filter(Boolean),
                 concurrency: Number(f.concurrency.value), repetitions: Number(f.repetitions.value) };
  const answer = await sendJson("POST", "/api/campaigns", plan);
  if (!answer.ok) { showError(form, answer.body.error || String(answer.status), result); return; }
  result.className = "ok";
  result.textContent = `campaign #${answer.body.id} started`;
  watch(answer.body.id);
});
document.getElementById("stop").addEventListener("click", async () => {
  if (view.shown !== null) await sendJson("POST", `/api/campaigns/${view.shown}/stop`, {});
});
history();
