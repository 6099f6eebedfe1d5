// The recordings view: filters, number search as people type, play, download, delete, and a
// selection (rows, a page, or every match of the filter) to download as one ZIP or delete.
import { $, $$, state, api, can, el, registerView } from "./core.js";

// pager holds the cursors of the pages seen so far, so "Newer" can go back.
const pager = { cursors: [""], page: 0, next: "" };
// sel is the selection: ids picked row by row (kept across pages), or, when all is set, every
// recording the filter all.filter matches (all.label says how many, as counted; all.many: more
// than one listing page of 200, not counted further).
const sel = { ids: new Set(), all: null, rows: [] };

function filterQuery() {
  const f = new FormData($("#filters")), q = new URLSearchParams();
  for (const [k, v] of f) {
    if (!v) continue;
    // The page shows every time in UTC, as the download names do: the inputs are UTC too.
    if (k === "from" || k === "to") q.set(k, new Date(v + "Z").toISOString().replace(/\.\d{3}Z$/, "Z"));
    else if (k === "min_seconds") q.set("min_duration_ms", String(Math.round(Number(v) * 1000)));
    else q.set(k, v);
  }
  return q;
}
const fmtDur = (ms) => { const s = Math.round(ms / 1000); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); };
async function loadRecordings() {
  const q = filterQuery();
  q.set("limit", "25");
  const cur = pager.cursors[pager.page];
  if (cur) q.set("cursor", cur);
  $("#rec-error").textContent = "";
  let page;
  try { page = await api("GET", "/recordings?" + q.toString()); } catch (e) { $("#rec-error").textContent = e.message; return; }
  pager.next = page.next_cursor;
  const tb = $("#rec-table tbody");
  tb.replaceChildren();
  for (const r of page.items) tb.append(recordingRow(r));
  if (!page.items.length) tb.append(el("tr", {}, el("td", { colSpan: 14, textContent: "No recordings." })));
  sel.rows = page.items.map((r) => r.id);
  $("#prev-page").disabled = pager.page === 0;
  $("#next-page").disabled = !pager.next;
  $$(".col-company").forEach((c) => { c.hidden = !can("brand"); });
  countProblems(q);
  showSelection();
}
// newListing starts the listing over (a new filter): the old selection does not carry over.
function newListing() {
  pager.cursors = [""]; pager.page = 0;
  sel.ids.clear(); sel.all = null; $("#sel-note").textContent = "";
  loadRecordings();
}
// filterBody is the filter of the listing as the API's bulk calls take it (no paging).
function filterBody() {
  const q = filterQuery();
  return Object.fromEntries(q);
}
// selectionBody is what archive/link and delete are asked for: the ids, or the filter.
const selectionBody = () => sel.all ? { filter: sel.all.filter } : { ids: [...sel.ids] };
const isSelected = (id) => sel.all !== null || sel.ids.has(id);
// showSelection syncs the checkboxes and the bar with sel.
function showSelection() {
  for (const cb of $$("#rec-table tr.rec td.sel input")) cb.checked = isSelected(cb.closest("tr").dataset.id);
  const onPage = sel.rows.filter(isSelected).length;
  const page = $("#sel-page");
  page.checked = sel.rows.length > 0 && onPage === sel.rows.length;
  page.indeterminate = onPage > 0 && onPage < sel.rows.length;
  page.disabled = sel.rows.length === 0;
  const n = sel.all ? sel.all.label : sel.ids.size;
  $("#sel-bar").hidden = !sel.all && sel.ids.size === 0;
  $("#sel-count").textContent = !sel.all ? n + " selected" : sel.all.many ? "All matching selected (more than 200)" : "All " + n + " matching selected";
  $("#sel-delete").hidden = !canDelete();
  offerAllMatching(page.checked && !sel.all && (pager.next || pager.page > 0));
}
// canDelete: the row's Delete rule, for the selection: company admins and above, when a company
// in view allows removal (the API refuses, per recording, what its company does not allow).
const canDelete = () => can("company_admin") && [...state.companies.values()].some((c) => c.allow_recording_removal !== false);
// offerAllMatching offers, once the page is all selected, every match of the filter, with the
// count of the listing (200 at most per page: beyond it the page says so, not a guess).
let offerSeq = 0;
async function offerAllMatching(show) {
  const b = $("#sel-all-matching"), seq = ++offerSeq;
  if (!show) { b.hidden = true; return; }
  const q = filterQuery(); q.set("limit", "200");
  let label;
  try {
    const page = await api("GET", "/recordings?" + q.toString());
    label = page.next_cursor ? "" : String(page.items.length);
  } catch (e) { b.hidden = true; return; }
  if (seq !== offerSeq) return;
  b.textContent = label ? "Select all " + label + " matching" : "Select all matching (more than 200)";
  b.onclick = () => { sel.all = { filter: filterBody(), label, many: !label }; sel.ids.clear(); showSelection(); };
  b.hidden = false;
}
function toggleRow(id, on) {
  if (sel.all) { sel.ids = new Set(sel.rows); sel.all = null; } // leaving "all matching": this page, less the row
  if (on) sel.ids.add(id); else sel.ids.delete(id);
  showSelection();
}
$("#sel-page").addEventListener("change", (ev) => {
  if (sel.all && !ev.target.checked) { sel.all = null; sel.ids.clear(); }
  for (const id of sel.rows) { if (ev.target.checked) sel.ids.add(id); else sel.ids.delete(id); }
  showSelection();
});
$("#sel-clear").addEventListener("click", () => { sel.ids.clear(); sel.all = null; $("#sel-note").textContent = ""; showSelection(); });
// Download ZIP: the server resolves the selection and answers a signed URL, which the browser
// downloads itself, streamed to disk (a ZIP of every match can be gigabytes: never a Blob here).
$("#sel-zip").addEventListener("click", async () => {
  const note = $("#sel-note");
  note.textContent = "Preparing the ZIP…";
  try {
    const link = await api("POST", "/recordings/archive/link", selectionBody());
    const a = el("a", { href: link.url, download: "" });
    document.body.append(a); a.click(); a.remove();
    const left = link.left_out.length;
    note.textContent = "Downloading " + link.count + " recording" + (link.count === 1 ? "" : "s") + " as a ZIP" +
      (left ? "; " + left + " selected left out (not ready)." : ".");
  } catch (e) { note.textContent = e.message; }
});
// Delete: a dry run first gives the exact count to confirm; then exactly the ids confirmed are
// deleted (a recording arriving meanwhile is never deleted unseen).
$("#sel-delete").addEventListener("click", async () => {
  const note = $("#sel-note");
  try {
    const dry = await api("POST", "/recordings/delete", { ...selectionBody(), dry_run: true });
    const n = dry.deleted.length, refused = dry.refused.length;
    if (!n) { note.textContent = "None of the selected recordings can be deleted" + reasons(dry.refused); return; }
    if (!confirm("Delete " + n + " recording" + (n === 1 ? "" : "s") + "?" +
      (refused ? " (" + refused + " selected cannot be deleted.)" : "") + " This cannot be undone.")) return;
    const done = await api("POST", "/recordings/delete", { ids: dry.deleted });
    note.textContent = "Deleted " + done.deleted.length + "." + (done.refused.length || refused ? " Not deleted" + reasons(dry.refused.concat(done.refused)) : "");
    sel.ids.clear(); sel.all = null;
    loadRecordings();
  } catch (e) { note.textContent = e.message; }
});
// reasons summarises refusals: ": 2 — This company does not allow… ; 1 — The recording is still running…".
function reasons(refused) {
  const by = new Map();
  for (const r of refused) by.set(r.message, (by.get(r.message) || 0) + 1);
  return by.size ? ": " + [...by].map(([m, k]) => k + " — " + m).join("; ") : ".";
}
// Admins see how many recordings of the current filter failed or were discarded (a recording
// that was expected and is missing is what they most need to see), with a link to list them.
async function countProblems(q) {
  const box = $("#rec-problems");
  if (!can("company_admin") || q.get("state")) { box.hidden = true; return; }
  const counts = {};
  try {
    for (const st of ["failed", "discarded"]) {
      const c = new URLSearchParams(q); c.delete("cursor"); c.set("state", st); c.set("limit", "200");
      const page = await api("GET", "/recordings?" + c.toString());
      counts[st] = page.next_cursor ? page.items.length + "+" : page.items.length; // a number when exact: 0 is left out below
    }
  } catch (e) { box.hidden = true; return; }
  const parts = [];
  for (const st of ["failed", "discarded"]) {
    if (counts[st] === 0) continue;
    parts.push(el("a", { href: "#", className: "show-" + st, textContent: counts[st] + " " + st, onclick: (ev) => {
      ev.preventDefault(); $("#filters [name=state]").value = st; newListing();
    } }));
  }
  box.replaceChildren(...(parts.length ? ["In this filter: ", ...parts.flatMap((p, i) => i ? [", ", p] : [p]), "."] : []));
  box.hidden = parts.length === 0;
}
function recordingRow(r) {
  const user = r.user_id ? state.users.get(r.user_id) : null;
  const who = r.user_id ? (user ? user.name + " (" + user.extension + ")" : r.user_id) : "—";
  const tr = el("tr", { className: "rec" });
  tr.dataset.id = r.id;
  const started = new Date(r.started_at).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "");
  const co = state.companies.get(r.company_id);
  const ddi = r.ddi_id ? state.ddis.get(r.ddi_id) : null;
  const cell = (label, text, className = "") => el("td", { className, textContent: text, title: label });
  const pick = el("input", { type: "checkbox", className: "pick", checked: isSelected(r.id), onchange: (ev) => toggleRow(r.id, ev.target.checked) });
  pick.setAttribute("aria-label", "Select " + r.file_name);
  const actions = el("td", { className: "actions" });
  // An altered file (integrity mismatch) is never served by the API: no Play or Download for it.
  if (r.state === "ready" && r.integrity !== "mismatch") {
    actions.append(el("button", { className: "play", textContent: "▶ Play", onclick: () => play(r) }),
      el("button", { className: "download", textContent: "⤓ Download", onclick: () => download(r) }));
  }
  if (can("company_admin") && co && co.allow_recording_removal !== false) {
    actions.append(el("button", { className: "delete danger", textContent: "Delete", onclick: () => remove(r, tr) }));
  }
  // The actions come first, so a long error text can never push them off-screen.
  tr.append(el("td", { className: "sel", title: "Select" }, pick), actions, cell("Started (UTC)", started, "started"),
    cell("Company", co ? co.name : r.company_id, "col-company"),
    cell("DDI", ddi ? ddi.number : (r.ddi_id ? "—" : ""), "ddi"),
    cell("Direction", r.direction || "", "direction"),
    cell("Type", r.type === "ddi" ? "DDI" : "on demand · " + r.trigger),
    compliance(r), // where it is seen without scrolling at desktop width
    cell("Caller", r.caller), cell("Callee", r.callee), cell("Recorder", r.recorder || "", "recorder"),
    cell("Duration", fmtDur(r.duration_ms)), cell("Requested by", who, "requested-by"),
    cell("State", r.state + (r.error ? ": " + r.error : ""), "state"));
  tr.querySelector(".col-company").hidden = !can("brand");
  for (const td of tr.children) if (td.title) td.dataset.label = td.title;
  return tr;
}
// byName names who masked a span: a user by name, an API token as such (README: "by" is the
// user's id for the mask code, token:<id> for the API).
function byName(by) {
  if (!by) return "someone";
  if (by.startsWith("token:")) return "API token " + by.slice(6, 14);
  const u = state.users.get(by);
  return u ? u.name : by;
}
// compliance is the recording's audit cell: its masked spans, its consent record and its
// integrity (the SHA-256 shortened, the whole in its title and a copy button; a mismatch shown
// as the problem it is: the file is no longer what was recorded, and is not served).
function compliance(r) {
  const td = el("td", { className: "compliance", title: "Checks" });
  for (const m of r.masks || []) {
    const from = fmtDur(m.offset_ms);
    const text = m.open ? "paused from " + from + " (still paused)" : "paused " + from + "–" + fmtDur(m.offset_ms + m.length_ms);
    td.append(el("div", { className: "mask", textContent: text + " by " + byName(m.by) }));
  }
  if (r.consent) {
    const c = r.consent;
    const text = c.method === "press_1" ? "consent: caller pressed 1" + (c.announcement ? " after " + c.announcement : "") : "consent: announced: " + (c.announcement || "—");
    td.append(el("div", { className: "consent", textContent: text, title: "Played at " + c.played_at }));
  }
  if (r.encryption_key_id) {
    td.append(el("div", { className: "sealed", textContent: "encrypted at rest", title: "Sealed on disk with the company's data key " + r.encryption_key_id }));
  }
  if (r.integrity === "mismatch") {
    td.append(el("div", { className: "integrity bad error", textContent: "⚠ integrity: mismatch — the file no longer matches its SHA-256; it is not served" }));
  } else if (r.sha256) {
    const code = el("code", { className: "sha256", textContent: r.sha256.slice(0, 12) + "…", title: "SHA-256 " + r.sha256 });
    const copy = el("button", { type: "button", className: "copy-sha link", textContent: "copy", title: "Copy the SHA-256",
      onclick: async () => { try { await navigator.clipboard.writeText(r.sha256); copy.textContent = "copied"; } catch (e) { copy.textContent = "select it: " + r.sha256; } } });
    td.append(el("div", { className: "integrity" }, "SHA-256 ", code, " ", copy));
  }
  return td;
}
async function play(r) {
  try {
    const link = await api("GET", "/recordings/" + r.id + "/link");
    const p = $("#player");
    $("#player-box").hidden = false;
    $("#now-playing").textContent = r.file_name;
    p.src = link.url;
    await p.play().catch(() => {});
  } catch (e) { $("#rec-error").textContent = e.message; }
}
async function download(r) {
  try {
    const link = await api("GET", "/recordings/" + r.id + "/link");
    const a = el("a", { href: link.download_url, download: r.file_name });
    document.body.append(a); a.click(); a.remove();
  } catch (e) { $("#rec-error").textContent = e.message; }
}
async function remove(r, tr) {
  if (!confirm("Delete the recording " + r.file_name + "? This cannot be undone.")) return;
  try { await api("DELETE", "/recordings/" + r.id); tr.remove(); sel.ids.delete(r.id); sel.rows = sel.rows.filter((id) => id !== r.id); showSelection(); } catch (e) { $("#rec-error").textContent = e.message; }
}
$("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); newListing(); });
// Search as people type: once 3 digits are in (the API's minimum) or the box is emptied.
let numberTimer;
$("#filters [name=number]").addEventListener("input", (ev) => {
  clearTimeout(numberTimer);
  const digits = ev.target.value.replace(/\D/g, "").replace(/^00/, "").length; // 00 is the international prefix
  if (digits > 0 && digits < 3) return;
  numberTimer = setTimeout(newListing, 250);
});
$("#next-page").addEventListener("click", () => { pager.cursors[pager.page + 1] = pager.next; pager.page++; loadRecordings(); });
$("#prev-page").addEventListener("click", () => { if (pager.page > 0) { pager.page--; loadRecordings(); } });

registerView("recordings", newListing);
