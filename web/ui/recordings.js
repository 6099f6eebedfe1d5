// The recordings view: filters, number search as people type, play, download, delete.
import { $, $$, state, api, can, el, registerView } from "./core.js";

// pager holds the cursors of the pages seen so far, so "Newer" can go back.
const pager = { cursors: [""], page: 0, next: "" };

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
  if (!page.items.length) tb.append(el("tr", {}, el("td", { colSpan: 12, textContent: "No recordings." })));
  $("#prev-page").disabled = pager.page === 0;
  $("#next-page").disabled = !pager.next;
  $$(".col-company").forEach((c) => { c.hidden = !can("brand"); });
  countProblems(q);
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
      counts[st] = page.items.length + (page.next_cursor ? "+" : "");
    }
  } catch (e) { box.hidden = true; return; }
  const parts = [];
  for (const st of ["failed", "discarded"]) {
    if (counts[st] === 0) continue;
    parts.push(el("a", { href: "#", className: "show-" + st, textContent: counts[st] + " " + st, onclick: (ev) => {
      ev.preventDefault(); $("#filters [name=state]").value = st; pager.cursors = [""]; pager.page = 0; loadRecordings();
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
  const actions = el("td", { className: "actions" });
  if (r.state === "ready") {
    actions.append(el("button", { className: "play", textContent: "▶ Play", onclick: () => play(r) }),
      el("button", { className: "download", textContent: "⤓ Download", onclick: () => download(r) }));
  }
  if (can("company_admin") && co && co.allow_recording_removal !== false) {
    actions.append(el("button", { className: "delete danger", textContent: "Delete", onclick: () => remove(r, tr) }));
  }
  // The actions come first, so a long error text can never push them off-screen.
  tr.append(actions, cell("Started (UTC)", started, "started"),
    cell("Company", co ? co.name : r.company_id, "col-company"),
    cell("DDI", ddi ? ddi.number : (r.ddi_id ? "—" : ""), "ddi"),
    cell("Direction", r.direction || "", "direction"),
    cell("Type", r.type === "ddi" ? "DDI" : "on demand · " + r.trigger),
    cell("Caller", r.caller), cell("Callee", r.callee), cell("Recorder", r.recorder || "", "recorder"),
    cell("Duration", fmtDur(r.duration_ms)), cell("Requested by", who, "requested-by"),
    cell("State", r.state + (r.error ? ": " + r.error : ""), "state"));
  tr.querySelector(".col-company").hidden = !can("brand");
  for (const td of tr.children) if (td.title) td.dataset.label = td.title;
  return tr;
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
  try { await api("DELETE", "/recordings/" + r.id); tr.remove(); } catch (e) { $("#rec-error").textContent = e.message; }
}
$("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); pager.cursors = [""]; pager.page = 0; loadRecordings(); });
// Search as people type: once 3 digits are in (the API's minimum) or the box is emptied.
let numberTimer;
$("#filters [name=number]").addEventListener("input", (ev) => {
  clearTimeout(numberTimer);
  const digits = ev.target.value.replace(/\D/g, "").replace(/^00/, "").length; // 00 is the international prefix
  if (digits > 0 && digits < 3) return;
  numberTimer = setTimeout(() => { pager.cursors = [""]; pager.page = 0; loadRecordings(); }, 250);
});
$("#next-page").addEventListener("click", () => { pager.cursors[pager.page + 1] = pager.next; pager.page++; loadRecordings(); });
$("#prev-page").addEventListener("click", () => { if (pager.page > 0) { pager.page--; loadRecordings(); } });

registerView("recordings", () => { pager.cursors = [""]; pager.page = 0; loadRecordings(); });
