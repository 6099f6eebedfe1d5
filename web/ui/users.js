// The users view (company admins and above): list, create, edit and delete the phone users of
// the companies the caller sees (web/admin.go createUser/updateUser/deleteUser).
import { $, $$, state, api, can, el, listAll, registerView, field, clearErrors, showErrors, setStatus, val } from "./core.js";
import { changed, savedText } from "./honour.js";

const companyName = (id) => (state.companies.get(id) || {}).name || id;

function userRow(u) {
  const tr = el("tr", { className: "user" });
  tr.dataset.id = u.id;
  const status = el("span", { className: "status" });
  const inputs = {
    name: el("input", { className: "name", value: u.name || "", size: 14 }),
    extension: el("input", { className: "extension", value: u.extension, size: 6, inputMode: "numeric" }),
    sip_user: el("input", { className: "sip-user", value: u.sip_user, size: 10 }),
    email: el("input", { className: "email", type: "email", value: u.email || "", size: 16 }),
  };
  const labels = { name: "Name", extension: "Extension", sip_user: "SIP user", email: "E-mail" };
  const cells = Object.entries(inputs).map(([k, input]) => el("td", { title: labels[k] }, field(labels[k], input, k)));
  const co = el("td", { className: "col-company", title: "Company", textContent: companyName(u.company_id) });
  co.hidden = !can("brand");
  const actions = el("td", { className: "actions" },
    el("button", { className: "save", textContent: "Save", onclick: async () => {
      const upd = { ...u };
      for (const [k, input] of Object.entries(inputs)) upd[k] = input.value.trim();
      const fields = changed(u, upd);
      clearErrors(tr);
      if (!fields.length) { setStatus(status, "", "Nothing changed."); return; }
      const body = {};
      for (const f of fields) body[f] = upd[f];
      setStatus(status, "", "saving…");
      try {
        u = await api("PATCH", "/users/" + u.id, body);
        state.users.set(u.id, u);
        setStatus(status, "ok", savedText("user", fields));
      } catch (e) { setStatus(status, "error", showErrors(tr, e)); }
    } }),
    el("button", { className: "delete danger", textContent: "Delete", onclick: async () => {
      if (!confirm("Delete the user " + (u.name || u.extension) + "? Their tokens are revoked at once; their recordings stay.")) return;
      try { await api("DELETE", "/users/" + u.id); state.users.delete(u.id); tr.remove(); }
      catch (e) { setStatus(status, "error", "Not deleted: " + e.message); }
    } }),
    status);
  tr.append(...cells, co, actions);
  return tr;
}

async function loadUsers() {
  const tb = $("#user-table tbody");
  tb.replaceChildren();
  $("#user-error").textContent = "";
  $$("#user-table thead .col-company").forEach((th) => { th.hidden = !can("brand"); });
  const coSel = $("#user-create [name=company_id]");
  coSel.closest("label").hidden = !can("brand"); // a company admin's users are its own company's
  coSel.replaceChildren(...[...state.companies.values()].map((c) => el("option", { value: c.id, textContent: c.name })));
  let users;
  try { users = await listAll("/users"); } catch (e) { $("#user-error").textContent = e.message; return; }
  for (const u of users) { state.users.set(u.id, u); tb.append(userRow(u)); }
  if (!users.length) tb.append(el("tr", {}, el("td", { colSpan: 6, textContent: "No users." })));
}

$("#user-create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target, status = $(".status", f);
  const body = {};
  for (const k of ["name", "extension", "sip_user", "email"]) body[k] = val(f, k);
  if (can("brand")) body.company_id = val(f, "company_id");
  clearErrors(f); setStatus(status, "", "creating…");
  try {
    const u = await api("POST", "/users", body);
    state.users.set(u.id, u);
    for (const k of ["name", "extension", "sip_user", "email"]) f.elements.namedItem(k).value = "";
    await loadUsers();
    setStatus($("#user-create .status"), "ok", "Created " + (u.name || u.extension) + " — calls that start from now know them.");
  } catch (e) { setStatus(status, "error", showErrors(f, e)); }
});

registerView("users", loadUsers);
