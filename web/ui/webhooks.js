// The webhooks view (company admins and above; README "Webhooks", web/webhooks.go): list a
// tenancy's webhooks, create one (its signing secret shown once, as a new token's is), switch
// one on or off, send a test ping, read its delivery log by pages, and delete it.
import { $, state, api, el, can, listAll, registerView, clearErrors, showErrors, setStatus, val, wireCopy, utcTime } from "./core.js";

const events = ["recording.ready", "recording.failed", "recording.discarded", "recording.missing"];
const utc = (t) => utcTime(t, "—");
const nameOf = (m, id) => (m.get(id) || {}).name || id;
const cell = (label, content, cls = "") => {
  const td = el("td", { title: label, className: cls });
  td.dataset.label = label;
  td.append(content);
  return td;
};

// log is the delivery log shown: its webhook, the cursors of the pages before this one, the next.
const log = { hook: null, cursors: [], cursor: "", next: "" };

function hookRow(w) {
  const tr = el("tr", { className: "webhook" });
  tr.dataset.id = w.id;
  const status = el("span", { className: "status" });
  const active = el("input", { type: "checkbox", className: "active", checked: w.active, onchange: async () => {
    try { const u = await api("PATCH", "/webhooks/" + w.id, { active: active.checked }); w.active = u.active; setStatus(status, "ok", u.active ? "On." : "Off."); }
    catch (e) { active.checked = w.active; setStatus(status, "error", "Not saved: " + e.message); }
  } });
  const button = (cls, text, onclick) => el("button", { type: "button", className: cls, textContent: text, onclick });
  tr.append(cell("URL", w.url, "url wide"), cell("Company", nameOf(state.companies, w.company_id), "company"),
    cell("Events", w.events && w.events.length ? w.events.join(", ") : "all", "events wide"),
    cell("Active", el("label", { className: "toggle" }, active, " active"), "active-cell"),
    cell("Secret", "…" + w.secret_hint, "hint"),
    el("td", { className: "actions" },
      button("send-test", "Send test", async () => {
        try { await api("POST", "/webhooks/" + w.id + "/test"); setStatus(status, "ok", "Test ping queued."); showLog(w); }
        catch (e) { setStatus(status, "error", e.message); }
      }),
      button("show-log", "Deliveries", () => showLog(w)),
      button("delete danger", "Delete", async () => {
        if (!confirm("Delete the webhook to " + w.url + "? Nothing more is sent to it.")) return;
        try {
          await api("DELETE", "/webhooks/" + w.id);
          tr.remove();
          if (log.hook && log.hook.id === w.id) { log.hook = null; $("#webhook-log").hidden = true; }
        } catch (e) { setStatus(status, "error", "Not deleted: " + e.message); }
      }), status));
  return tr;
}

function deliveryRow(d) {
  const tr = el("tr", { className: "delivery " + d.state });
  tr.dataset.id = d.id;
  tr.append(cell("Created (UTC)", utc(d.created_at)), cell("Event", d.event, "event"), cell("State", d.state, "state"),
    cell("Attempts", String(d.attempts), "attempts"), cell("Last status", d.last_status ? String(d.last_status) : "—", "last-status"),
    cell("Last error", d.last_error || "—", "last-error wide"), cell("Next attempt (UTC)", utc(d.next_attempt_at), "next"),
    cell("Delivered (UTC)", utc(d.delivered_at), "delivered"));
  return tr;
}

async function loadLog() {
  const tb = $("#delivery-table tbody");
  $("#webhook-log-error").textContent = "";
  const q = new URLSearchParams({ limit: "20" });
  if (log.cursor) q.set("cursor", log.cursor);
  let page;
  try { page = await api("GET", "/webhooks/" + log.hook.id + "/deliveries?" + q.toString()); }
  catch (e) { $("#webhook-log-error").textContent = e.message; return; }
  log.next = page.next_cursor;
  tb.replaceChildren(...page.items.map(deliveryRow));
  if (!page.items.length) tb.replaceChildren(el("tr", {}, el("td", { colSpan: 8, textContent: "Nothing sent yet." })));
  $("#delivery-older").disabled = !log.next;
  $("#delivery-newer").disabled = log.cursors.length === 0;
}

function showLog(w) {
  Object.assign(log, { hook: w, cursors: [], cursor: "", next: "" });
  $("#webhook-log-url").textContent = w.url;
  $("#webhook-log").hidden = false;
  return loadLog();
}

async function listHooks() {
  $("#webhook-error").textContent = "";
  let hooks;
  try { hooks = await listAll("/webhooks"); } catch (e) { $("#webhook-error").textContent = e.message; return; }
  const tb = $("#webhook-table tbody");
  tb.replaceChildren(...hooks.map(hookRow));
  if (!hooks.length) tb.replaceChildren(el("tr", {}, el("td", { colSpan: 6, textContent: "No webhooks yet." })));
}

async function loadHooks() {
  // A secret is shown only right after it was created, never again.
  $("#webhook-secret-box").hidden = true;
  $("#webhook-secret").textContent = "";
  $("#webhook-log").hidden = true;
  log.hook = null;
  const f = $("#webhook-create");
  const sel = f.elements.namedItem("company_id");
  sel.closest("label").hidden = !can("brand");
  if (can("brand") && !sel.options.length) {
    sel.replaceChildren(...[...state.companies.values()].map((c) => el("option", { value: c.id, textContent: c.name })));
  }
  const box = $(".webhook-events", f);
  if (!box.children.length) {
    box.append(...events.map((e) => el("label", { className: "check" }, el("input", { type: "checkbox", name: "events", value: e }), " " + e)));
  }
  await listHooks();
}

$("#webhook-create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target, status = $(".status", f);
  const body = { url: val(f, "url"), events: [...f.querySelectorAll("[name=events]:checked")].map((c) => c.value) };
  if (can("brand")) body.company_id = val(f, "company_id");
  clearErrors(f); setStatus(status, "", "creating…");
  try {
    const w = await api("POST", "/webhooks", body);
    f.elements.namedItem("url").value = "";
    for (const c of f.querySelectorAll("[name=events]")) c.checked = false;
    setStatus(status, "ok", "Created.");
    await listHooks();
    $("#webhook-secret-url").textContent = w.url;
    $("#webhook-secret").textContent = w.secret;
    $("#webhook-copy-status").textContent = "";
    $("#webhook-secret-box").hidden = false;
  } catch (e) { setStatus(status, "error", showErrors(f, e)); }
});
wireCopy($("#webhook-copy"), $("#webhook-secret"), $("#webhook-copy-status"));
$("#delivery-older").addEventListener("click", () => { log.cursors.push(log.cursor); log.cursor = log.next; loadLog(); });
$("#delivery-newer").addEventListener("click", () => { log.cursor = log.cursors.pop() || ""; loadLog(); });
$("#delivery-refresh").addEventListener("click", () => loadLog());

registerView("webhooks", loadHooks);
