"use strict";
// The console page: meters (paged on the server), packets (backfilled, then
// live by server-sent events, rendered a few times a second), and one
// exchange as a collapsible tree beside its bytes.
const MAX_ROWS = 500;
const BACKFILL = 200;
const RENDER_MS = 200;
const PER_RENDER = 200;

// -- meters -------------------------------------------------------------------
const meters = { offset: 0, limit: 50, q: "", state: "", total: 0 };

async function loadMeters() {
  let page;
  try {
    page = await getJson("/api/meters", { offset: meters.offset, limit: meters.limit, q: meters.q, state: meters.state });
  } catch (error) { document.getElementById("meter-range").textContent = error.message; return; }
  showMeters(page);
}

function showMeters(page) {
  meters.total = page.total;
  document.getElementById("meter-total").textContent = page.total + (meters.q || meters.state ? " matching" : "");
  const last = Math.min(page.total, meters.offset + page.meters.length);
  document.getElementById("meter-range").textContent = page.total ? `${meters.offset + 1}–${last} of ${page.total}` : "none";
  document.getElementById("meter-prev").disabled = meters.offset === 0;
  document.getElementById("meter-next").disabled = last >= page.total;
  const body = document.getElementById("meter-rows");
  const rows = page.meters.map(meter => {
    const link = element("a", { href: withToken("/meters/" + encodeURIComponent(meter.id)), text: meter.id });
    const row = element("tr", { class: "meter", "data-meter": meter.id },
      element("td", {}, link), element("td", { text: meter.serial }),
      element("td", { text: `${meter.address}:${meter.port}` }), element("td", { text: meter.model }),
      element("td", { class: "state " + meter.state, text: meter.state + (meter.worker ? ` · worker ${meter.worker.index}`
        + (meter.worker.state !== "running" ? " " + meter.worker.state : "")
        + (meter.worker.restarts ? ` (restarts: ${meter.worker.restarts})` : "") : "") }),
      element("td", { text: meter.faults || "—" }), element("td", { class: "num clients", text: meter.clients }),
      element("td", { class: "num", text: meter.requests }),
      element("td", { class: "num" + (meter.errors ? " bad" : ""), text: meter.errors }),
      element("td", { text: ago(meter.last_seen) }));
    if (meter.id === packets.filter.meter) row.classList.add("active");
    row.addEventListener("click", event => {
      if (event.target.tagName === "A") return;
      setFilter("meter", packets.filter.meter === meter.id ? "" : meter.id);
    });
    return row;
  });
  body.replaceChildren(...rows);
}

function setupMeters() {
  let typing = null;
  document.getElementById("meter-q").addEventListener("input", event => {
    clearTimeout(typing);
    typing = setTimeout(() => { meters.q = event.target.value.trim(); meters.offset = 0; loadMeters(); }, 250);
  });
  document.getElementById("meter-state").addEventListener("change", event => {
    meters.state = event.target.value; meters.offset = 0; loadMeters();
  });
  document.getElementById("meter-prev").addEventListener("click", () => {
    meters.offset = Math.max(0, meters.offset - meters.limit); loadMeters();
  });
  document.getElementById("meter-next").addEventListener("click", () => {
    if (meters.offset + meters.limit < meters.total) { meters.offset += meters.limit; loadMeters(); }
  });
  showMeters(JSON.parse(document.getElementById("first-page").textContent));
  performance.mark("dlmstw-meters-shown");  // how long the page took to show its meters (bench/console.py)
  setInterval(loadMeters, 2000);
}

// -- packets ------------------------------------------------------------------
const packets = {
  filter: { meter: "", peer: "", kind: "", result: "", errors: false },
  paused: false, pending: [], records: new Map(), source: null, selected: null, dropped: 0,
};

function filterParams() {
  const f = packets.filter;
  return { meter: f.meter, peer: f.peer, kind: f.kind, result: f.result, errors: f.errors ? "1" : "" };
}

function setFilter(name, value) {
  packets.filter[name] = value;
  const input = document.getElementById("f-" + name);
  if (input.type === "checkbox") input.checked = value; else input.value = value;
  document.querySelectorAll("tr.meter").forEach(r => r.classList.toggle("active", r.dataset.meter === packets.filter.meter));
  connect();
}

function connect() {
  if (packets.source) packets.source.close();
  packets.pending = [];
  packets.records.clear();
  document.getElementById("packet-rows").replaceChildren();
  const source = new EventSource(withToken("/api/packets/stream", { ...filterParams(), backfill: BACKFILL }));
  packets.source = source;
  const status = document.getElementById("status");
  source.addEventListener("open", () => { status.textContent = packets.paused ? "paused" : "live"; });
  source.addEventListener("error", () => { status.textContent = "reconnecting…"; });
  source.addEventListener("exchange", event => {
    packets.pending.push(JSON.parse(event.data));
    if (packets.pending.length > MAX_ROWS) packets.pending.splice(0, packets.pending.length - MAX_ROWS);
  });
  source.addEventListener("dropped", event => {
    packets.dropped += Number(event.data);
    document.getElementById("dropped").textContent = packets.dropped + " events dropped to keep up";
  });
  document.getElementById("download-json").href = withToken("/api/packets.json", filterParams());
  document.getElementById("download-pcap").href = withToken("/api/packets.pcap", filterParams());
}

function packetRow(record) {
  const bytes = (record.request.length / 2) + " / " + (record.response ? record.response.length / 2 : 0);
  const row = element("tr", { class: "packet", "data-sequence": record.sequence },
    ...[record.sequence, record.time_req.slice(11, 23), record.meter, record.peer, record.client_sap ?? "",
        record.kind, record.result, bytes].map(value => element("td", { text: value })));
  if (!CONSOLE.normalResults.has(record.result)) row.classList.add("bad");
  return row;
}

// Rendering is batched: a few hundred records a second become one DOM update per tick.
function render() {
  if (packets.paused || !packets.pending.length) {
    if (packets.paused) document.getElementById("packet-count").textContent = packets.pending.length + " waiting";
    return;
  }
  const batch = packets.pending.splice(0, packets.pending.length).slice(-PER_RENDER);
  const body = document.getElementById("packet-rows");
  const fragment = document.createDocumentFragment();
  for (let i = batch.length - 1; i >= 0; i--) {
    packets.records.set(batch[i].sequence, batch[i]);
    fragment.append(packetRow(batch[i]));
  }
  body.prepend(fragment);
  while (body.rows.length > MAX_ROWS) {
    const last = body.rows[body.rows.length - 1];
    packets.records.delete(Number(last.dataset.sequence));
    last.remove();
  }
  document.getElementById("packet-count").textContent = body.rows.length + " shown";
}

function selectRow(row) {
  if (!row) return;
  document.querySelectorAll("tr.packet.selected").forEach(r => { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
  row.classList.add("selected");
  row.setAttribute("aria-selected", "true");
  row.scrollIntoView({ block: "nearest" });
  packets.selected = Number(row.dataset.sequence);
  showExchange(packets.records.get(packets.selected));
}

function setupPackets() {
  for (const name of ["meter", "peer", "kind", "result"]) {
    document.getElementById("f-" + name).addEventListener("change", event => setFilter(name, event.target.value.trim()));
  }
  document.getElementById("f-errors").addEventListener("change", event => setFilter("errors", event.target.checked));
  document.getElementById("pause").addEventListener("click", event => {
    packets.paused = !packets.paused;
    event.target.textContent = packets.paused ? "resume" : "pause";
    document.getElementById("status").textContent = packets.paused ? "paused" : "live";
  });
  document.getElementById("clear").addEventListener("click", () => {
    document.getElementById("packet-rows").replaceChildren(); packets.records.clear();
  });
  const body = document.getElementById("packet-rows");
  body.addEventListener("click", event => selectRow(event.target.closest("tr.packet")));
  body.addEventListener("keydown", event => {
    const rows = body.rows;
    if (!rows.length) return;
    const current = body.querySelector("tr.selected");
    let next = null;
    if (event.key === "ArrowDown") next = current ? current.nextElementSibling : rows[0];
    else if (event.key === "ArrowUp") next = current ? current.previousElementSibling : rows[0];
    else if (event.key === "Home") next = rows[0];
    else if (event.key === "End") next = rows[rows.length - 1];
    else if (event.key === "PageDown") next = rows[Math.min(rows.length - 1, (current ? current.sectionRowIndex : 0) + 20)];
    else if (event.key === "PageUp") next = rows[Math.max(0, (current ? current.sectionRowIndex : 0) - 20)];
    else return;
    event.preventDefault();
    selectRow(next || current);
  });
  connect();
  setInterval(render, RENDER_MS);
}

// -- one exchange: tree and bytes ------------------------------------------------
const exchange = { fields: [], selected: null };

function fieldLabel(field, side) {
  const label = element("span", { class: "field", "data-side": side, "data-offset": field.offset, "data-length": field.length,
                                  title: `offset ${field.offset}, ${field.length} bytes` },
    element("span", { class: "name", text: field.name }),
    element("span", { class: "hex", text: field.hex ? " " + (field.hex.length > 48 ? field.hex.slice(0, 48) + "…" : field.hex) : "" }),
    element("span", { class: "meaning", text: field.meaning ? " — " + field.meaning : "" }));
  if (field.error) label.append(element("span", { class: "error", text: " ✗ " + field.error }));
  exchange.fields.push({ label, side, offset: field.offset, length: field.length });
  label.addEventListener("click", event => { event.preventDefault(); selectField(label); });
  return label;
}

function treeNode(field, side, depth) {
  if (!field.children || !field.children.length) return element("div", { class: "leaf" }, fieldLabel(field, side));
  const details = element("details", {}, element("summary", {}, fieldLabel(field, side)));
  if (depth < 2) details.open = true;
  details.append(element("div", { class: "children" }, ...field.children.map(child => treeNode(child, side, depth + 1))));
  return details;
}

function hexBlock(side, hex) {
  const block = element("div", { "data-side": side }, element("h3", { text: side + " (" + hex.length / 2 + " bytes)" }));
  for (let line = 0; line < hex.length / 2; line += 16) {
    const row = element("div", { class: "line" }, element("span", { class: "offset", text: line.toString(16).padStart(4, "0") + "  " }));
    for (let i = line; i < Math.min(line + 16, hex.length / 2); i++) {
      const byte = element("span", { class: "byte", "data-side": side, "data-index": i, text: hex.slice(2 * i, 2 * i + 2) });
      row.append(byte, i % 8 === 7 ? "  " : " ");
    }
    block.append(row);
  }
  return block;
}

function showExchange(record) {
  exchange.fields = [];
  exchange.selected = null;
  const tree = document.getElementById("tree");
  const hex = document.getElementById("hex");
  if (!record) { tree.replaceChildren(element("p", { class: "stat", text: "—" })); hex.replaceChildren(); return; }
  const step = record.scenario ? ` · scenario step ${record.scenario}` : "";
  tree.replaceChildren(element("h2", { text: `#${record.sequence} ${record.kind} · ${record.result}${step}` }));
  hex.replaceChildren();
  for (const [side, description, bytes] of [["request", record.description_request, record.request],
                                            ["response", record.description_response, record.response]]) {
    if (!description) continue;
    tree.append(element("div", { class: "stat", text: side }), treeNode(description, side, 0));
    hex.append(hexBlock(side, bytes || ""));
  }
}

function selectField(label) {
  document.querySelectorAll(".tree .field.selected").forEach(f => f.classList.remove("selected"));
  document.querySelectorAll(".hexpane .byte.mark").forEach(b => b.classList.remove("mark"));
  label.classList.add("selected");
  for (let node = label.parentElement; node && node.id !== "tree"; node = node.parentElement) {
    if (node.tagName === "DETAILS") node.open = true;
  }
  label.scrollIntoView({ block: "nearest" });
  const side = label.dataset.side, start = Number(label.dataset.offset), end = start + Number(label.dataset.length);
  let first = null;
  document.querySelectorAll(`.hexpane .byte[data-side="${side}"]`).forEach(byte => {
    const index = Number(byte.dataset.index);
    if (index >= start && index < end) { byte.classList.add("mark"); first = first || byte; }
  });
  if (first) first.scrollIntoView({ block: "nearest" });
}

// A byte selects the smallest field that holds it.
function selectByte(byte) {
  const side = byte.dataset.side, index = Number(byte.dataset.index);
  let best = null;
  for (const field of exchange.fields) {
    if (field.side === side && field.length > 0 && field.offset <= index && index < field.offset + field.length
        && (!best || field.length <= best.length)) best = field;
  }
  if (best) selectField(best.label);
}

document.getElementById("hex").addEventListener("click", event => {
  if (event.target.classList.contains("byte")) selectByte(event.target);
});
setupMeters();
setupPackets();
