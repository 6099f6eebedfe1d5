// The person view (company admins and above; README "Requests by person", web/subject.go):
// every recording of a company that involves one phone number, downloaded as one ZIP (the
// signed archive link, streamed by the browser as the recordings' selection does) or erased
// after a dry run names the exact count and the held recordings that will stay.
import { $, state, api, el, can, registerView, clearErrors, showErrors, setStatus, val } from "./core.js";

// asked is the last lookup: the number as the API wrote it back (E.164) and the company.
let asked = null;
const fmtDur = (ms) => { const s = Math.round(ms / 1000); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); };
const plural = (n, w) => n + " " + w + (n === 1 ? "" : "s");
const request = () => { const b = { number: asked.number }; if (asked.company_id) b.company_id = asked.company_id; return b; };

function placeholder(text) {
  $("#person-table tbody").replaceChildren(el("tr", {}, el("td", { colSpan: 6, textContent: text })));
}

function recRow(r) {
  const cell = (label, text, className = "") => el("td", { title: label, className, textContent: text });
  const tr = el("tr", { className: "subject-rec" });
  tr.dataset.id = r.id;
  tr.append(cell("Started (UTC)", new Date(r.started_at).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "")),
    cell("Caller", r.caller), cell("Callee", r.callee), cell("Recorder", r.recorder || ""),
    cell("Duration", fmtDur(r.duration_ms || 0)), cell("State", r.state));
  for (const td of tr.children) td.dataset.label = td.title;
  return tr;
}

async function lookUp(f) {
  const status = $(".status", f);
  const q = new URLSearchParams({ number: val(f, "number") });
  const companyID = can("brand") ? val(f, "company_id") : "";
  if (companyID) q.set("company_id", companyID);
  clearErrors(f); setStatus(status, "", "looking up…");
  $("#person-note").textContent = "";
  let reply;
  try { reply = await api("GET", "/subjects/recordings?" + q.toString()); }
  catch (e) { setStatus(status, "error", showErrors(f, e).replace(/^Not saved: /, "")); $("#person-bar").hidden = true; asked = null; return; }
  asked = { number: reply.number, company_id: companyID };
  setStatus(status, "", "");
  $("#person-count").textContent = plural(reply.items.length, "recording") + " involve " + reply.number + ".";
  $("#person-bar").hidden = false;
  $("#person-zip").disabled = $("#person-erase").disabled = reply.items.length === 0;
  const tb = $("#person-table tbody");
  tb.replaceChildren(...reply.items.map(recRow));
  if (!reply.items.length) placeholder("No recordings involve " + reply.number + ".");
}

// reasons summarises refusals by message: "2 — the recording is on legal hold … ; 1 — …".
function reasons(refused) {
  const by = new Map();
  for (const r of refused) by.set(r.message, (by.get(r.message) || 0) + 1);
  return [...by].map(([m, k]) => k + " — " + m).join("; ");
}

$("#person-form").addEventListener("submit", (ev) => { ev.preventDefault(); lookUp(ev.target); });

$("#person-zip").addEventListener("click", async () => {
  const note = $("#person-note");
  note.textContent = "Preparing the ZIP…";
  try {
    const link = await api("POST", "/subjects/archive/link", request());
    const a = el("a", { href: link.url, download: "" });
    document.body.append(a); a.click(); a.remove();
    const left = link.left_out.length;
    note.textContent = "Downloading " + plural(link.count, "recording") + " as a ZIP" + (left ? "; " + left + " left out (not ready)." : ".");
  } catch (e) { note.textContent = e.message; }
});

$("#person-erase").addEventListener("click", async () => {
  const note = $("#person-note");
  try {
    const dry = await api("POST", "/subjects/erase", { ...request(), dry_run: true });
    const n = dry.erased.length, refused = dry.refused.length;
    if (!n) { note.textContent = "Nothing can be erased: " + (reasons(dry.refused) || "no recordings."); return; }
    if (!confirm("Erase " + plural(n, "recording") + " of " + dry.number + "? This cannot be undone." +
      (refused ? " " + refused + " will stay: " + reasons(dry.refused) + "." : ""))) return;
    // Only the ids the dry run listed: a recording that arrived since is never erased unseen.
    const done = await api("POST", "/subjects/erase", { ...request(), ids: dry.erased });
    // The dry run's refusals were not sent again; they stay refused and are named with the rest.
    const kept = [...dry.refused, ...done.refused];
    const outcome = "Erased " + plural(done.erased.length, "recording") + "." + (kept.length ? " Not erased: " + reasons(kept) + "." : "");
    note.textContent = outcome;
    await lookUp($("#person-form"));
    note.textContent = outcome;
  } catch (e) { note.textContent = e.message; }
});

registerView("person", () => {
  const sel = $("#person-form [name=company_id]");
  sel.closest("label").hidden = !can("brand");
  if (can("brand") && !sel.options.length) {
    sel.replaceChildren(...[...state.companies.values()].map((c) => el("option", { value: c.id, textContent: c.name })));
  }
  if (!asked) placeholder("Enter a phone number to see the recordings that involve it.");
});
