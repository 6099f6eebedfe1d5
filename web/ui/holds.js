// The legal holds view (company admins and above; README "Legal holds", web/holds.go): every
// hold of the caller's companies, active and released (who and when), placing one (a recording,
// a call, a number or a date range, with a reason; brand and platform admins pick the company)
// and releasing one after a confirmation. A hold is never edited or deleted.
import { $, $$, state, api, el, can, listAll, registerView, clearErrors, showErrors, setStatus, val } from "./core.js";

// tokenNames maps token ids to names, for "placed by" (holds name the token: "token:<id>").
const tokenNames = new Map();
const who = (by) => {
  if (!by) return "";
  if (!by.startsWith("token:")) return by;
  const id = by.slice(6);
  return tokenNames.has(id) ? "token “" + tokenNames.get(id) + "”" : "token " + id.slice(0, 8);
};
const utc = (t) => t ? new Date(t).toISOString().replace("T", " ").replace(/:\d{2}\.\d{3}Z$/, "") : "";
// what says what a hold covers, in words.
function what(h) {
  switch (h.kind) {
    case "recording": return "recording " + h.recording_id;
    case "call": return "call " + h.call_id;
    case "number": return "number " + h.number;
    case "range": return "recordings from " + utc(h.from) + " to " + utc(h.to) + " UTC";
  }
  return h.kind;
}

function holdRow(h) {
  const tr = el("tr", { className: "hold " + (h.released_at ? "released" : "active") });
  tr.dataset.id = h.id;
  const co = state.companies.get(h.company_id);
  const status = el("span", { className: "status" });
  const actions = el("td", { className: "actions" });
  if (!h.released_at) {
    actions.append(el("button", { className: "release", textContent: "Release", onclick: async () => {
      if (!confirm("Release the legal hold on " + what(h) + " (" + h.reason + ")? What it covers can then be deleted and is removed by retention and quota again.")) return;
      setStatus(status, "", "releasing…");
      try { await api("POST", "/holds/" + h.id + "/release"); await loadHolds(); }
      catch (e) { setStatus(status, "error", "Not released: " + e.message); }
    } }));
  }
  actions.append(status);
  const cell = (label, text, className = "") => el("td", { title: label, className, textContent: text });
  tr.append(cell("Hold", (h.released_at ? "released: " : "active: ") + what(h), "what"),
    cell("Company", co ? co.name : h.company_id, "col-company"),
    cell("Reason", h.reason, "reason"),
    cell("Placed", utc(h.created_at) + " by " + who(h.created_by), "placed"),
    cell("Released", h.released_at ? utc(h.released_at) + " by " + who(h.released_by) : "—", "released-cell"),
    actions);
  tr.querySelector(".col-company").hidden = !can("brand");
  for (const td of tr.children) if (td.title) td.dataset.label = td.title;
  return tr;
}

// showKind shows only the input the kind needs.
function showKind() {
  const kind = $("#hold-create [name=kind]").value;
  for (const l of $$("#hold-create .hold-by")) l.hidden = !l.classList.contains("hold-by-" + kind);
}

async function loadHolds() {
  const tb = $("#holds-table tbody");
  $("#holds-error").textContent = "";
  const coSel = $("#hold-create [name=company_id]");
  coSel.closest("label").hidden = !can("brand");
  if (can("brand") && !coSel.options.length) {
    coSel.replaceChildren(...[...state.companies.values()].map((c) => el("option", { value: c.id, textContent: c.name })));
  }
  for (const th of $$("#holds-table thead .col-company")) th.hidden = !can("brand");
  showKind();
  let holds;
  try {
    holds = await listAll("/holds");
    const toks = await listAll("/tokens").catch(() => []);
    for (const t of toks) tokenNames.set(t.id, t.name || t.id);
  } catch (e) { $("#holds-error").textContent = e.message; return; }
  // Active first, then the history, newest first in each.
  holds.sort((a, b) => (!!a.released_at - !!b.released_at) || (b.created_at > a.created_at ? 1 : -1));
  tb.replaceChildren(...holds.map(holdRow));
  if (!holds.length) tb.append(el("tr", {}, el("td", { colSpan: 6, textContent: "No legal holds." })));
}

$("#hold-create [name=kind]").addEventListener("change", showKind);
$("#hold-create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target, status = $(".status", f);
  const kind = val(f, "kind");
  const body = { kind, reason: val(f, "reason") };
  if (can("brand")) body.company_id = val(f, "company_id");
  if (kind === "recording") body.recording_id = val(f, "recording_id");
  if (kind === "call") body.call_id = val(f, "call_id");
  if (kind === "number") body.number = val(f, "number");
  if (kind === "range") {
    // The page shows every time in UTC: the inputs are UTC too.
    for (const k of ["from", "to"]) if (val(f, k)) body[k] = new Date(val(f, k) + "Z").toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  clearErrors(f); setStatus(status, "", "placing…");
  try {
    const h = await api("POST", "/holds", body);
    for (const n of ["recording_id", "call_id", "number", "from", "to", "reason"]) f.elements.namedItem(n).value = "";
    await loadHolds();
    setStatus(status, "ok", "Placed: " + what(h) + " is held until released.");
  } catch (e) { setStatus(status, "error", showErrors(f, e).replace(/^Not saved: /, "Not placed: ")); }
});

registerView("holds", loadHolds);
