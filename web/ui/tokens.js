// The tokens view (every admin): list the tokens of the caller's tenancy, create one (a role up
// to the caller's own, scoped inside its tenancy: web/admin.go checkGrant) whose secret is shown
// once, and revoke.
import { $, state, api, el, listAll, registerView, roleLabel, clearErrors, showErrors, setStatus, val, wireCopy, utcTime } from "./core.js";

const ranks = { user: 1, company_admin: 2, brand: 3, platform: 4 };
const nameOf = (m, id) => (m.get(id) || {}).name || id;
const utc = (t) => utcTime(t, "never");

// scopeText names what a token reaches, by name.
function scopeText(t) {
  switch (t.role) {
    case "platform": return "everything";
    case "brand": return nameOf(state.brands, t.brand_id);
    case "company_admin": return nameOf(state.companies, t.company_id);
    default: {
      const u = state.users.get(t.user_id);
      return (u ? (u.name || u.extension) + " (" + u.extension + ")" : t.user_id) + " · " + nameOf(state.companies, t.company_id);
    }
  }
}

function tokenRow(t) {
  const tr = el("tr", { className: "token" });
  tr.dataset.id = t.id;
  const status = el("span", { className: "status" });
  const mine = state.me && t.id === state.me.id;
  const cell = (label, text, cls = "") => { const td = el("td", { title: label, className: cls, textContent: text }); td.dataset.label = label; return td; };
  tr.append(cell("Name", (t.name || "—") + (mine ? " (this session)" : ""), "name"), cell("Role", roleLabel(t.role), "role"),
    cell("Scope", scopeText(t), "scope"), cell("Created (UTC)", utc(t.created_at), "created"), cell("Last used (UTC)", utc(t.last_used_at), "last-used"),
    el("td", { className: "actions" }, el("button", { className: "revoke danger", textContent: "Revoke", onclick: async () => {
      const warn = mine ? "\nThis is the token you are signed in with: you will be signed out." : "";
      if (!confirm("Revoke the token " + (t.name || t.id) + "? Anything using it is refused from now." + warn)) return;
      try {
        await api("DELETE", "/tokens/" + t.id);
        if (mine) { sessionStorage.removeItem("callrec.token"); location.reload(); return; }
        tr.remove();
      } catch (e) { setStatus(status, "error", "Not revoked: " + e.message); }
    } }), status));
  return tr;
}

// scopeOptions fills the create form's pickers for the caller's tenancy and shows the one the
// chosen role needs; a brand or company admin's own scope is filled in by the API.
function scopeOptions() {
  const f = $("#token-create"), role = val(f, "role"), me = state.me.role;
  const fill = (name, items) => f.elements.namedItem(name).replaceChildren(...items.map(([id, text]) => el("option", { value: id, textContent: text })));
  fill("brand_id", [...state.brands.values()].map((b) => [b.id, b.name]));
  fill("company_id", [...state.companies.values()].map((c) => [c.id, c.name]));
  fill("user_id", [...state.users.values()].map((u) => [u.id, (u.name || u.extension) + " (" + u.extension + ") · " + nameOf(state.companies, u.company_id)]));
  $(".scope-brand", f).hidden = !(role === "brand" && me === "platform");
  $(".scope-company", f).hidden = !(role === "company_admin" && me !== "company_admin");
  $(".scope-user", f).hidden = role !== "user";
}

async function listTokens() {
  const tb = $("#token-table tbody");
  $("#token-error").textContent = "";
  let toks;
  try { toks = await listAll("/tokens"); } catch (e) { $("#token-error").textContent = e.message; return; }
  tb.replaceChildren(...toks.map(tokenRow));
}

async function loadTokens() {
  // A secret is shown only right after it was created, never again.
  $("#token-secret-box").hidden = true;
  $("#token-secret").textContent = "";
  const sel = $("#token-create [name=role]");
  const mine = ranks[state.me.role];
  sel.replaceChildren(...Object.keys(ranks).filter((r) => ranks[r] <= mine).reverse()
    .map((r) => el("option", { value: r, textContent: roleLabel(r), selected: r === "user" })));
  scopeOptions();
  await listTokens();
}

$("#token-create [name=role]").addEventListener("change", scopeOptions);
$("#token-create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target, status = $(".status", f), role = val(f, "role");
  const body = { name: val(f, "name"), role };
  if (role === "brand" && state.me.role === "platform") body.brand_id = val(f, "brand_id");
  if (role === "company_admin" && state.me.role !== "company_admin") body.company_id = val(f, "company_id");
  if (role === "user") body.user_id = val(f, "user_id");
  clearErrors(f); setStatus(status, "", "creating…");
  try {
    const t = await api("POST", "/tokens", body);
    f.elements.namedItem("name").value = "";
    setStatus(status, "ok", "Created.");
    await listTokens();
    $("#token-secret-name").textContent = t.name ? "“" + t.name + "” (" + roleLabel(t.role) + ")" : "(" + roleLabel(t.role) + ")";
    $("#token-secret").textContent = t.secret;
    $("#token-copy-status").textContent = "";
    $("#token-secret-box").hidden = false;
  } catch (e) { setStatus(status, "error", showErrors(f, e)); }
});
wireCopy($("#token-copy"), $("#token-secret"), $("#token-copy-status"));

registerView("tokens", loadTokens);
