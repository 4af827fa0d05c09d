"use strict";
// What every console page shares: the token, the CSRF token and the JSON calls.
const CONSOLE = {
  token: document.body.dataset.token || "",
  csrf: document.body.dataset.csrf,
  normalResults: new Set((document.body.dataset.normalResults || "").split(" ")),
};

function withToken(path, params) {
  const query = new URLSearchParams(params || {});
  for (const [key, value] of [...query]) if (value === "" || value === null) query.delete(key);
  if (CONSOLE.token) query.set("token", CONSOLE.token);
  const text = query.toString();
  return text ? path + "?" + text : path;
}

async function getJson(path, params) {
  const response = await fetch(withToken(path, params));
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// A state-changing request of the page: it carries the CSRF token.
async function sendJson(method, path, value) {
  const response = await fetch(withToken(path), {
    method, headers: { "content-type": "application/json", "x-csrf-token": CONSOLE.csrf },
    body: JSON.stringify(value),
  });
  const body = await response.json().catch(() => ({ error: response.statusText }));
  return { ok: response.ok, status: response.status, body };
}

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === "class") node.className = value; else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const delta = Math.max(0, Date.now() / 1000 - seconds);
  if (delta < 60) return Math.round(delta) + " s ago";
  if (delta < 3600) return Math.round(delta / 60) + " min ago";
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach(e => e.remove());
}

// A refusal names its field first ("load_profile_days: 1 to 35, not 40"): shown next to it.
function showError(form, message, result) {
  const field = message.split(": ")[0];
  const input = form.querySelector(`[data-field="${CSS.escape(field)}"]`) || form.querySelector(`[name="${CSS.escape(field)}"]`);
  const note = element("span", { class: "field-error", role: "alert", text: message });
  if (input) input.insertAdjacentElement("afterend", note); else result.replaceChildren(note);
}
