"use strict";
// A meter's page: live values read through its objects, its settings and
// keys (edited through PATCH, with each refusal shown next to its field),
// its associations and its counters.
/* global METER */
const KEY_FIELDS = ["lls_password", "hls_secret", "authentication_key", "block_cipher_key"];

// The keys an association uses: its mechanism's password or secret, and the
// ciphering keys when it is ciphered or authenticates by HLS-GMAC (and any key it has).
function keysUsed(association, keys) {
  const used = new Set(KEY_FIELDS.filter(name => keys[name]));
  if (association.authentication === "lls") used.add("lls_password");
  if (["hls-md5", "hls-sha1", "hls-sha256"].includes(association.authentication)) used.add("hls_secret");
  if (association.authentication === "hls-gmac" || association.security !== "none" || association.context === "ln-ciphered") {
    used.add("authentication_key"); used.add("block_cipher_key");
  }
  return KEY_FIELDS.filter(name => used.has(name));
}
const meterPath = "/api/meters/" + encodeURIComponent(METER.id);

async function loadValues() {
  let values;
  try { values = await getJson(meterPath + "/values"); } catch (error) {
    document.getElementById("clock").textContent = error.message; return;
  }
  document.getElementById("clock").textContent = "clock " + (values.clock || "—");
  document.getElementById("registers").replaceChildren(...values.registers.map(r => element("tr", {},
    element("td", { text: r.name }), element("td", { text: r.obis }), element("td", { class: "num", text: r.value }),
    element("td", { text: r.unit }))));
  const profile = values.profile;
  if (!profile) return;
  document.getElementById("profile-obis").textContent = profile.obis + ", last " + profile.rows.length + " rows";
  document.getElementById("profile-head").replaceChildren(element("tr", {}, ...profile.columns.map(c => element("th", { text: c }))));
  document.getElementById("profile-rows").replaceChildren(...profile.rows.map(row => element("tr", {},
    ...row.map(cell => element("td", { text: cell })))));
}

function showDetail(meter) {
  const state = document.getElementById("state");
  state.textContent = meter.state;
  state.className = "stat " + meter.state;
  document.getElementById("counters").replaceChildren(
    ...[["clients", meter.clients], ["requests", meter.requests], ["errors", meter.errors], ["last seen", ago(meter.last_seen)]]
      .concat(Object.entries(meter.counters).sort())
      .flatMap(([name, value]) => [element("dt", { text: name }), element("dd", { text: value })]));
}

async function patch(form, changes, result) {
  clearErrors(form);
  result.textContent = "";
  if (!Object.keys(changes).length) { result.textContent = "nothing changed"; return; }
  const answer = await sendJson("PATCH", meterPath, changes);
  if (!answer.ok) { showError(form, answer.body.error || String(answer.status), result); return; }
  Object.assign(METER, answer.body);
  result.className = "ok";
  result.textContent = "saved " + new Date().toLocaleTimeString();
  showDetail(METER);
}

function setupSettings() {
  const form = document.getElementById("settings");
  form.elements.state.value = METER.state;
  form.elements.load_profile_interval.value = String(METER.load_profile_interval);
  form.elements.load_profile_days.value = METER.load_profile_days;
  form.elements.anomalies.value = METER.anomalies;
  form.elements.faults.value = METER.faults;
  form.addEventListener("submit", event => {
    event.preventDefault();
    const changes = {};
    const f = form.elements;
    if (f.state.value !== METER.state) changes.state = f.state.value;
    if (Number(f.load_profile_interval.value) !== METER.load_profile_interval) changes.load_profile_interval = Number(f.load_profile_interval.value);
    if (f.load_profile_days.value !== String(METER.load_profile_days)) {
      changes.load_profile_days = /^\d+$/.test(f.load_profile_days.value) ? Number(f.load_profile_days.value) : f.load_profile_days.value;
    }
    for (const name of ["anomalies", "faults"]) if (f[name].value.trim() !== METER[name]) changes[name] = f[name].value.trim();
    patch(form, changes, document.getElementById("settings-result"));
  });
}

function setupAssociations() {
  const holder = document.getElementById("associations");
  for (const association of METER.associations) {
    const form = element("form", { class: "edit", "data-association": association.name, novalidate: "" });
    form.append(element("span", { class: "stat", text: "association" }),
      element("strong", { text: `${association.name} · client ${association.client_sap} · ${association.authentication} · ${association.context} · ${association.security} · ${association.access}` }));
    const keys = METER.keys ? METER.keys[association.name] : null;
    if (!keys) {
      form.append(element("span", {}), element("span", { class: "stat", text: "keys are shown only on loopback or with the console token" }));
      holder.append(form);
      continue;
    }
    const fields = keysUsed(association, keys);
    if (!fields.length) {
      form.append(element("span", {}), element("span", { class: "stat", text: "no keys: no authentication, not ciphered" }));
      holder.append(form);
      continue;
    }
    for (const name of fields) {
      const id = `${association.name}-${name}`;
      form.append(element("label", { for: id, text: name.replaceAll("_", " ") }),
        element("input", { id, name, "data-field": `associations.${association.name}.${name}`, value: keys[name] ?? "",
                           placeholder: "not set", autocomplete: "off", spellcheck: "false" }));
    }
    const result = element("span", { class: "stat" });
    form.append(element("span", {}), element("span", {}, element("button", { type: "submit", text: "change keys" }), " ", result));
    form.addEventListener("submit", event => {
      event.preventDefault();
      const changed = {};
      for (const name of fields) {
        const value = form.elements[name].value.trim();
        if (value !== (keys[name] ?? "")) changed[name] = value;
      }
      patch(form, Object.keys(changed).length ? { associations: { [association.name]: changed } } : {}, result)
        .then(() => { if (METER.keys) Object.assign(keys, METER.keys[association.name]); });
    });
    holder.append(form);
  }
}

setupSettings();
setupAssociations();
showDetail(METER);
loadValues();
setInterval(loadValues, 2000);
setInterval(async () => { try { showDetail(await getJson(meterPath)); } catch (error) { /* shown on the next try */ } }, 2000);
