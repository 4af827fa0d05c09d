"use strict";
// The scenario: its timeline (which steps ran, which is next, how many meters
// each hits), start / pause / reset, and the upload of a new one.
const scenario = { timer: null };

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds >= 3600 && seconds % 60 === 0) return `${Math.floor(seconds / 3600)} h ${(seconds % 3600) / 60 || ""}`.trim();
  if (seconds >= 60) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60) || ""}`.trim();
  return `${seconds} s`;
}

function stepStatus(step, next) {
  if (step.ended) return "ended";
  if (step.ran) return step.duration ? "in force" : "ran";
  return step.index === next ? "next" : "waiting";
}

function show(state) {
  const controls = { start: document.getElementById("scenario-start"), pause: document.getElementById("scenario-pause"),
                     reset: document.getElementById("scenario-reset") };
  document.getElementById("scenario-title").textContent = state.loaded ? `Scenario · ${state.source}` : "Scenario";
  document.getElementById("scenario-state").textContent = state.loaded
    ? `${state.state} · ${duration(state.elapsed)} · seed ${state.seed}` : "no scenario loaded: upload one";
  controls.start.disabled = !state.loaded || state.state === "running" || state.state === "finished";
  controls.pause.disabled = state.state !== "running";
  controls.reset.disabled = !state.loaded;
  document.getElementById("steps").replaceChildren(...state.steps.map(step => {
    const status = stepStatus(step, state.next);
    const action = step.action + (step.duration ? ` for ${duration(step.duration)}` : "");
    return element("tr", { class: "step " + status.replace(" ", "-"), "data-step": step.index },
      ...[step.index, step.name, duration(step.at), step.meters, action].map(v => element("td", { text: v })),
      element("td", { class: "num", text: step.hits }), element("td", { class: "status", text: status }));
  }));
}

async function refresh() {
  clearTimeout(scenario.timer);
  try {
    show(await getJson("/api/scenario"));
  } catch (error) { document.getElementById("scenario-state").textContent = error.message; }
  scenario.timer = setTimeout(refresh, 1000);
}

// A state-changing request with a TOML body: it carries the CSRF token, as every console write does.
async function sendText(path, text) {
  const response = await fetch(withToken(path), {
    method: "POST", headers: { "content-type": "application/toml", "x-csrf-token": CONSOLE.csrf }, body: text,
  });
  const body = await response.json().catch(() => ({ error: response.statusText }));
  return { ok: response.ok, status: response.status, body };
}

for (const command of ["start", "pause", "reset"]) {
  document.getElementById("scenario-" + command).addEventListener("click", async () => {
    const answer = await sendJson("POST", "/api/scenario/" + command, {});
    const result = document.getElementById("scenario-result");
    result.className = answer.ok ? "stat" : "bad";
    result.textContent = answer.ok ? "" : (answer.body.error || String(answer.status));
    if (answer.ok) show(answer.body);
  });
}

document.getElementById("upload").addEventListener("submit", async event => {
  event.preventDefault();
  const result = document.getElementById("upload-result");
  const answer = await sendText("/api/scenario", document.getElementById("scenario-text").value);
  result.className = answer.ok ? "ok" : "bad";
  result.setAttribute("role", answer.ok ? "status" : "alert");
  result.textContent = answer.ok ? `loaded: ${answer.body.steps.length} steps` : (answer.body.error || String(answer.status));
  if (answer.ok) show(answer.body);
});
refresh();
