// Shared pieces of the callrec page: the API client, the signed-in identity, DOM helpers and the
// views' registry. Plain ES modules against /api/v1, no build step.
export const $ = (sel, el = document) => el.querySelector(sel);
export const $$ = (sel, el = document) => [...el.querySelectorAll(sel)];

const ranks = { user: 1, company_admin: 2, brand: 3, platform: 4 };

// state is the page's one mutable object: the token (kept in sessionStorage), the identity
// (/me) and the lookups every view uses to show names instead of ids.
export const state = { token: sessionStorage.getItem("callrec.token") || "", me: null,
  companies: new Map(), users: new Map(), ddis: new Map(), brands: new Map() };

// api calls /api/v1 with the token. A non-2xx reply throws an Error whose message is the API's
// message (with its field), carrying status and fields (every invalid field, name → message).
export async function api(method, path, body) {
  const opt = { method, headers: { Authorization: "Bearer " + state.token } };
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const resp = await fetch("/api/v1" + path, opt);
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = (data && data.error) || {};
    const err = new Error((e.message || resp.statusText) + (e.field ? " (" + e.field + ")" : ""));
    err.status = resp.status;
    // The API lists every invalid field as [{field, message}] when there are several, else
    // names the one in e.field: fields is always a map, field name → message.
    err.fields = {};
    for (const f of e.fields || []) if (f.field) err.fields[f.field] = f.message;
    if (e.field && !err.fields[e.field]) err.fields[e.field] = e.message;
    throw err;
  }
  return data;
}

// can reports whether the signed-in role is at least role.
export const can = (role) => state.me && ranks[state.me.role] >= ranks[role];

// el builds an element with properties and children.
export const el = (tag, props = {}, ...kids) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const k of kids) e.append(k);
  return e;
};

// listAll follows next_cursor to the end of a listing.
export async function listAll(path) {
  let out = [], cursor = "";
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", path + sep + "limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    out = out.concat(page.items); cursor = page.next_cursor;
  } while (cursor);
  return out;
}

// views maps a view's name (its section id) to the function that loads it when shown.
export const views = new Map();
export const registerView = (name, load) => views.set(name, load);

// loadLookups fills state's maps for the signed-in role.
export async function loadLookups() {
  state.companies.clear(); state.users.clear(); state.ddis.clear(); state.brands.clear();
  if (can("brand")) for (const b of await listAll("/brands")) state.brands.set(b.id, b);
  for (const c of await listAll("/companies")) state.companies.set(c.id, c);
  if (can("company_admin")) {
    for (const u of await listAll("/users")) state.users.set(u.id, u);
    for (const d of await listAll("/ddis")) state.ddis.set(d.id, d);
  }
  else if (state.me.user_id) state.users.set(state.me.user_id, await api("GET", "/users/" + state.me.user_id));
}

// roleLabel is how the page names a role.
export const roleLabel = (role) => ({ platform: "platform admin", brand: "brand admin", company_admin: "company admin", user: "user" })[role] || role;

// identity says who is signed in, by name, from /me and the lookups: "Ana García · user · Acme",
// "Acme · company admin", "Brand B · brand admin", "platform admin"; the token's name follows.
export function identity() {
  const me = state.me;
  if (!me) return "";
  const name = (m, id) => (m.get(id) || {}).name || id;
  let parts;
  switch (me.role) {
    case "user": parts = [name(state.users, me.user_id), "user", name(state.companies, me.company_id)]; break;
    case "company_admin": parts = [name(state.companies, me.company_id), "company admin"]; break;
    case "brand": parts = [name(state.brands, me.brand_id), "brand admin"]; break;
    default: parts = ["platform admin"];
  }
  return parts.join(" · ") + (me.name ? " — token “" + me.name + "”" : "");
}

// field wraps a control in a label with the place its API field error goes (data-field = the
// API's field name).
export function field(label, control, name) {
  const err = el("span", { className: "field-error error" });
  err.dataset.field = name;
  control.name = control.name || name;
  return el("label", { className: "field" }, el("span", { className: "field-label", textContent: label }), control, err);
}

// clearErrors empties every field error in box; showErrors puts err's field errors next to
// their inputs (all at once) and returns the message of any error no input shows.
export function clearErrors(box) { for (const e of $$(".field-error", box)) e.textContent = ""; }
export function showErrors(box, err) {
  clearErrors(box);
  const elsewhere = [];
  for (const [f, msg] of Object.entries(err.fields || {})) {
    const slot = $(".field-error[data-field='" + f + "']", box);
    if (slot) slot.textContent = msg; else elsewhere.push(msg + " (" + f + ")");
  }
  if (Object.keys(err.fields || {}).length === 0) return "Not saved: " + err.message;
  return "Not saved: " + (elsewhere.length ? elsewhere.join("; ") : "fix the fields marked.");
}

// setStatus shows the outcome of a save or delete next to its button.
export function setStatus(span, kind, text) { span.className = "status " + kind; span.textContent = text; }

// val is the trimmed value of form f's control named n.
export const val = (f, n) => f.elements.namedItem(n).value.trim();

// utcTime shows an RFC 3339 time as "YYYY-MM-DD HH:MM:SS" UTC (the page shows every time in
// UTC), none for a missing one.
export const utcTime = (t, none = "") => (t ? new Date(t).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "") : none);

// wireCopy makes button copy code's text (a secret shown once) to the clipboard, saying so in
// status; without clipboard permission it selects the text so Ctrl+C copies it.
export function wireCopy(button, code, status) {
  button.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(code.textContent); setStatus(status, "ok", "Copied."); }
    catch {
      const r = document.createRange(); r.selectNodeContents(code);
      const s = getSelection(); s.removeAllRanges(); s.addRange(r);
      setStatus(status, "", "Selected: press Ctrl+C (⌘C) to copy.");
    }
  });
}
