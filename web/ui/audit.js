// The audit log view (company admins and above; README "Audit log", web/audit.go): a chain's
// entries newest first by cursor pages (Older/Newer), who by token name where the tokens list
// shows it, and "Verify chain" (GET /audit/verify) saying plainly whether the chain is intact.
import { $, state, api, el, can, listAll, registerView, roleLabel, setStatus, utcTime } from "./core.js";

const utc = (t) => utcTime(t);
const actions = {
  play: "played", download: "downloaded", archive: "downloaded in a ZIP", delete: "deleted",
  erase: "erased (request by person)", retention_removal: "removed by retention", quota_removal: "removed by the quota",
  setting_change: "setting changed", token_created: "token created", token_revoked: "token revoked",
  hold_placed: "legal hold placed", hold_released: "legal hold released",
  subject_listed: "person's recordings listed", subject_exported: "person's recordings exported",
};

// view is the listing shown: the chain's query, the cursors of the pages before this one, and
// the token names the caller can see.
const view = { query: "", cursors: [], cursor: "", next: "", tokens: new Map(), recs: new Map() };

// chainQuery is the query string naming the chain picked (a company admin's own: none).
function chainQuery() {
  if (!can("brand")) return "";
  const v = $("#audit-chain").value;
  const [kind, id] = v.split(":");
  return kind === "company" ? "company_id=" + encodeURIComponent(id) : kind === "brand" ? "brand_id=" + encodeURIComponent(id) : "";
}

function who(e) {
  const t = e.token_id ? view.tokens.get(e.token_id) : null;
  const name = t ? (t.name || "unnamed token") : e.token_id ? "token " + e.token_id : "callrec";
  return name + " · " + roleLabel(e.role) + (e.address ? " · " + e.address : "");
}

function entryRow(e) {
  const tr = el("tr", { className: "audit" });
  tr.dataset.seq = e.seq;
  const cell = (label, content, cls = "") => {
    const td = el("td", { title: label, className: cls });
    td.dataset.label = label;
    td.append(content);
    return td;
  };
  let rec = "";
  const r = e.recording_id ? view.recs.get(e.recording_id) : undefined;
  if (r) rec = el("button", { type: "button", className: "link show-rec", textContent: e.recording_id, title: "Show it in Recordings", onclick: () => showRecording(r) });
  else if (e.recording_id) rec = el("span", { className: "rec-id", textContent: e.recording_id + " (no longer exists)" });
  tr.append(cell("When (UTC)", utc(e.at), "when"), cell("Action", actions[e.action] || e.action, "action"),
    cell("Recording", rec, "recording wide"), cell("Target", e.target || "", "target wide"),
    cell("Detail", e.detail || "", "detail wide"), cell("Who", who(e), "who wide"));
  return tr;
}

// lookUpRecordings learns which of the entries' recordings still exist (GET /recordings/{id}:
// 404 once deleted, erased or removed), so only those are offered as a link.
async function lookUpRecordings(entries) {
  const ids = [...new Set(entries.map((e) => e.recording_id).filter((id) => id && !view.recs.has(id)))];
  await Promise.all(ids.map(async (id) => {
    try { view.recs.set(id, await api("GET", "/recordings/" + id)); }
    catch (e) { if (e.status === 404) view.recs.set(id, null); }
  }));
}

// showRecording opens the Recordings view filtered to r: its start (to the second), caller and
// callee.
function showRecording(r) {
  const f = $("#filters"), t = new Date(r.started_at);
  t.setUTCMilliseconds(0);
  const local = (d) => d.toISOString().replace(/\.\d{3}Z$/, "");
  f.reset();
  f.elements.namedItem("from").value = local(t);
  f.elements.namedItem("to").value = local(new Date(t.getTime() + 1000));
  f.elements.namedItem("caller").value = r.caller || "";
  f.elements.namedItem("callee").value = r.callee || "";
  $("nav .tab[data-view=recordings]").click();
  f.requestSubmit();
}

async function loadPage() {
  const tb = $("#audit-table tbody");
  $("#audit-error").textContent = "";
  const q = new URLSearchParams(view.query);
  q.set("limit", "50");
  if (view.cursor) q.set("cursor", view.cursor);
  let page;
  try { page = await api("GET", "/audit?" + q.toString()); } catch (e) { $("#audit-error").textContent = e.message; return; }
  view.next = page.next_cursor;
  await lookUpRecordings(page.items);
  tb.replaceChildren(...page.items.map(entryRow));
  if (!page.items.length) tb.replaceChildren(el("tr", {}, el("td", { colSpan: 6, textContent: "No entries." })));
  $("#audit-older").disabled = !view.next;
  $("#audit-newer").disabled = view.cursors.length === 0;
}

function startOver() {
  view.query = chainQuery(); view.cursors = []; view.cursor = ""; view.next = ""; view.recs.clear();
  setStatus($("#audit-verify-result"), "", "");
  return loadPage();
}

$("#audit-older").addEventListener("click", () => { view.cursors.push(view.cursor); view.cursor = view.next; loadPage(); });
$("#audit-newer").addEventListener("click", () => { view.cursor = view.cursors.pop() || ""; loadPage(); });
$("#audit-chain").addEventListener("change", startOver);
$("#audit-verify").addEventListener("click", async () => {
  const st = $("#audit-verify-result");
  setStatus(st, "", "checking…");
  try {
    const v = await api("GET", "/audit/verify" + (view.query ? "?" + view.query : ""));
    if (v.ok) setStatus(st, "ok", "Intact, " + v.entries + " entries.");
    else setStatus(st, "error", "Broken at entry " + v.broken_at + ": " + v.problem + ".");
  } catch (e) { setStatus(st, "error", e.message); }
});

registerView("audit", async () => {
  const sel = $("#audit-chain");
  sel.closest("label").hidden = !can("brand");
  if (can("brand") && !sel.options.length) {
    const opts = [];
    if (state.me.role === "platform") opts.push(["", "the platform's own entries"]);
    for (const b of state.brands.values()) opts.push(["brand:" + b.id, b.name + " (brand entries)"]);
    for (const c of state.companies.values()) opts.push(["company:" + c.id, c.name]);
    sel.replaceChildren(...opts.map(([v, t]) => el("option", { value: v, textContent: t })));
    const firstCo = opts.find(([v]) => v.startsWith("company:"));
    if (firstCo) sel.value = firstCo[0];
  }
  view.tokens.clear();
  try { for (const t of await listAll("/tokens")) view.tokens.set(t.id, t); } catch { /* names fall back to ids */ }
  await startOver();
});
