// The live calls view (every role; README "Live calls in the API"): GET /calls, refreshed every
// few seconds while the tab is open, with the controls POST /calls/{id}/recording allows the
// role (web/calls.go controlCall): pause/resume for company admins and above always, for a user
// on its own calls when its company allows on-demand; start/stop of an on-demand recording when
// the company allows on-demand (esl refuses it otherwise).
import { $, state, api, can, el, registerView } from "./core.js";

const REFRESH_MS = 3000;
// notes keeps each call's last answer (a 409 reason, a refusal) across refreshes, by call id.
const notes = new Map();
// seq identifies the running refresh loop: showing the tab again starts a new one and the old
// one stops; a loop also stops as soon as the tab is hidden.
let seq = 0, timer = 0;

// name is a user's name; a company user knows only itself, so another user is "a colleague".
const name = (id) => { const u = state.users.get(id); return u ? u.name : can("company_admin") ? id : "a colleague"; };
const onDemandAllowed = (c) => { const co = state.companies.get(c.company_id); return !!co && co.on_demand !== "disabled"; };
// canPause: admins always; a user (on its own calls, the only ones it sees) when on-demand is allowed.
const canPause = (c) => can("company_admin") || onDemandAllowed(c);

async function control(c, action, userID, note) {
  const body = { action };
  if (userID && can("company_admin")) body.user_id = userID;
  note.className = "status"; note.textContent = action + "…";
  try {
    await api("POST", "/calls/" + encodeURIComponent(c.id) + "/recording", body);
    notes.delete(c.id);
  } catch (e) {
    // The API's reason as it says it ("does not apply…: nothing is recording").
    notes.set(c.id, (e.status === 409 ? "Not done: " : "Refused: ") + e.message.replace(/ \((action|user_id)\)$/, ""));
  }
  await refresh(false);
}

function callRow(c) {
  const tr = el("tr", { className: "call" });
  tr.dataset.id = c.id;
  const cell = (label, text, className = "") => el("td", { title: label, className, textContent: text });
  const started = new Date(c.started_at).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "");
  const co = state.companies.get(c.company_id);
  const users = (c.user_ids || []).map(name).join(", ") || "—";
  const recs = (c.recordings || []).map((r) => r.type === "ddi" ? "DDI" : "on demand (" + (r.user_id ? name(r.user_id) : r.trigger) + ")").join(", ") || "none";
  const note = el("span", { className: "status call-note" + (notes.has(c.id) ? " error" : ""), textContent: notes.get(c.id) || "" });
  const actions = el("td", { className: "actions" });
  const button = (cls, text, action, userID) => el("button", { className: cls, textContent: text, onclick: () => control(c, action, userID, note) });
  if (canPause(c)) {
    actions.append(c.masked ? button("resume", "Resume", "resume") : button("pause", "Pause", "pause"));
  }
  if (onDemandAllowed(c)) {
    // A user starts and stops its own recording; an admin that of each user on the call.
    const who = can("company_admin") ? (c.user_ids || []) : [state.me.user_id];
    for (const u of who) {
      const running = (c.recordings || []).some((r) => r.type !== "ddi" && r.user_id === u);
      const whose = can("company_admin") ? " recording of " + name(u) : " my recording";
      actions.append(running ? button("stop", "Stop" + whose, "stop", u) : button("start", "Start" + whose, "start", u));
    }
  }
  actions.append(note);
  tr.append(cell("Started (UTC)", started, "started"), cell("Company", co ? co.name : c.company_id, "col-company"),
    cell("Direction", c.direction || ""), cell("Caller", c.caller), cell("Callee", c.callee),
    cell("Users", users, "users"), cell("Recordings", recs, "recs"),
    cell("Paused", c.masked ? "paused (recording silence)" : "no", "paused" + (c.masked ? " is-paused" : "")), actions);
  tr.querySelector(".col-company").hidden = !can("brand");
  for (const td of tr.children) if (td.title) td.dataset.label = td.title;
  return tr;
}

// refresh loads the calls once; loop says whether to schedule the next refresh.
async function refresh(loop = true) {
  const mine = seq;
  let list;
  try {
    list = await api("GET", "/calls");
    $("#calls-error").textContent = "";
  } catch (e) { $("#calls-error").textContent = e.message; }
  if (list) {
    const tb = $("#calls-table tbody");
    tb.replaceChildren(...list.items.map(callRow));
    for (const id of [...notes.keys()]) if (!list.items.some((c) => c.id === id)) notes.delete(id);
    if (!list.items.length) tb.append(el("tr", {}, el("td", { colSpan: 9, textContent: "No live calls now." })));
    for (const th of document.querySelectorAll("#calls-table thead .col-company")) th.hidden = !can("brand");
  }
  if (loop && mine === seq && !$("#calls").hidden) timer = setTimeout(() => { if (mine === seq && !$("#calls").hidden) refresh(); }, REFRESH_MS);
}

registerView("calls", () => { seq++; clearTimeout(timer); refresh(); });
