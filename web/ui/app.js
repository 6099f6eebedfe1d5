// callrec web page: sign-in and navigation; each view is its own module.
import { $, $$, state, api, can, views, loadLookups, identity, roleLabel } from "./core.js";
import "./recordings.js";
import "./admin.js";
import "./users.js";
import "./tokens.js";
import "./calls.js";
import "./holds.js";
import "./person.js";
import "./audit.js";
import "./webhooks.js";

async function signIn(token) {
  state.token = token;
  try {
    state.me = await api("GET", "/me");
  } catch (e) {
    state.token = ""; sessionStorage.removeItem("callrec.token");
    $("#signin-error").textContent = e.status === 401 ? "That token is not valid." : e.message;
    return;
  }
  sessionStorage.setItem("callrec.token", token);
  $("#signin").hidden = true; $("#nav").hidden = false;
  $("#whoami").textContent = roleLabel(state.me.role);
  $$("nav .tab").forEach((b) => { b.hidden = b.dataset.min && !can(b.dataset.min); });
  $("nav .tab[data-view=companies]").textContent = can("brand") ? "Companies" : "Company";
  try { await loadLookups(); } catch (e) { $("#rec-error").textContent = e.message; }
  $("#whoami").textContent = identity(); // by name, now that the lookups are in
  show("recordings");
}

function show(view) {
  $$(".view").forEach((s) => { s.hidden = s.id !== view; });
  $$("nav .tab").forEach((b) => b.setAttribute("aria-current", b.dataset.view === view ? "page" : "false"));
  const load = views.get(view);
  if (load) load();
}

$("#signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("#token").value.trim()); });
$("#signout").addEventListener("click", () => { sessionStorage.removeItem("callrec.token"); location.reload(); });
$$("nav .tab").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));
if (state.token) signIn(state.token);
