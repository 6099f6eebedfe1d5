// The administration views: DDIs (company admins and above) and companies (brand admins and
// above edit everything; a company admin sees its own company and edits what the API lets it:
// name, stereo, country — web/admin.go companyAdminLocked).
import { $, state, api, can, el, listAll, registerView, clearErrors, showErrors, setStatus, field, val, utcTime } from "./core.js";
import { changed, savedText } from "./honour.js";

// The mask code (README "Masking for card numbers"): typed during a call it pauses every
// recording of the call (silence in the file) and typed again resumes; DTMF, so key + DTMF only.
const ENCRYPT_HINT = "Seals the company's new MP3s on disk with its own key (wrapped by this server's master key): a copied disk or backup holds no audio. Playing and downloading are unchanged. Recordings made before stay as they are.";
const MASK_HINT = "Optional, 1 to 3 digits, not the on-demand code. *code typed during a call pauses the recording (silence, e.g. for a card number), typed again resumes. Only with on-demand key + DTMF: it is heard as DTMF.";
const modeLabel = (m) => ({ disabled: "disabled", key: "key", key_dtmf: "key + DTMF" })[m] || m;
// One line per mode, next to the select (README "On demand" and the DTMF paragraph).
const modeHint = {
  disabled: "Nobody records on demand; the phone's Record key is refused.",
  key: "Record key on the phone, or a blind transfer to *code. No extra cost.",
  key_dtmf: "Also *code typed during the call. Cost: callrec receives every digit users type; the other party hears the code.",
};

const option = (value, text, selected) => el("option", { value, textContent: text, selected });
const companyName = (id) => (state.companies.get(id) || {}).name || id;

// companyOptions fills a select with the companies the caller sees.
function companyOptions(sel, selected) {
  sel.replaceChildren(...[...state.companies.values()].map((c) => option(c.id, c.name, c.id === selected)));
  return sel;
}

// save PATCHes the fields of obj that differ in upd and reports in status what calls do with
// them; only a 2xx answer says "Saved". It returns the stored object, or null.
async function save(kind, path, obj, upd, box, status) {
  const fields = changed(obj, upd);
  clearErrors(box);
  if (!fields.length) { setStatus(status, "", "Nothing changed."); return null; }
  const body = {};
  for (const f of fields) body[f] = upd[f];
  setStatus(status, "", "saving…");
  try {
    const stored = await api("PATCH", path, body);
    setStatus(status, "ok", savedText(kind, fields));
    return stored;
  } catch (e) { setStatus(status, "error", showErrors(box, e)); return null; }
}

// ---- DDIs ----
// Consent (README "Consent"): notice informs (staying on the line is consent); press_1 records only
// after the caller presses 1, so the announcement must ask for it and the DDI record inbound calls.
const consentLabel = { notice: "notice (staying on the line)", press_1: "press 1 to be recorded" };
const CONSENT_HINT = "press 1 needs an announcement that asks the caller to press 1, and Record calls inbound (not outbound or all: an outbound callee is never asked).";
const ANNOUNCEMENT_HELP = "Empty: none. A sound name (ivr/recording_notice.wav), a path in FreeSWITCH's sounds directories, tone_stream://…, silence_stream://MS, or file_string:// of those joined by !";

function ddiRow(d) {
  const mode = el("select", { className: "record-calls" });
  for (const m of ["none", "inbound", "outbound", "all"]) mode.append(option(m, m, d.record_calls === m));
  const ann = el("input", { className: "announcement", value: d.announcement || "", placeholder: "none", title: ANNOUNCEMENT_HELP });
  const consent = el("select", { className: "consent" });
  for (const m of ["notice", "press_1"]) consent.append(option(m, consentLabel[m], (d.consent || "notice") === m));
  const status = el("span", { className: "status" });
  const tr = el("tr", { className: "ddi" });
  tr.dataset.id = d.id;
  const actions = el("td", { className: "actions" },
    el("button", { className: "save", textContent: "Save", onclick: async () => {
      const stored = await save("ddi", "/ddis/" + d.id, d, { ...d, record_calls: mode.value, announcement: ann.value.trim(), consent: consent.value }, tr, status);
      if (stored) { d = stored; state.ddis.set(d.id, d); }
    } }));
  if (can("brand")) {
    actions.append(el("button", { className: "delete danger", textContent: "Delete", onclick: async () => {
      if (!confirm("Delete the DDI " + d.number + "? Its calls are no longer recorded; its recordings stay.")) return;
      try { await api("DELETE", "/ddis/" + d.id); state.ddis.delete(d.id); tr.remove(); }
      catch (e) { setStatus(status, "error", "Not deleted: " + e.message); }
    } }));
  }
  actions.append(status);
  tr.append(el("td", { className: "number", textContent: d.number, title: "Number" }),
    el("td", { textContent: companyName(d.company_id), title: "Company", className: "ddi-company" }),
    el("td", { title: "Record calls" }, field("Record calls", mode, "record_calls")),
    el("td", { title: "Announcement", className: "wide" }, field("Announcement", ann, "announcement")),
    el("td", { title: "Consent", className: "wide" }, field("Consent", consent, "consent"),
      el("span", { className: "hint consent-hint", textContent: CONSENT_HINT })),
    actions);
  return tr;
}

async function loadDDIs() {
  const tb = $("#ddi-table tbody");
  tb.replaceChildren();
  $("#ddi-error").textContent = "";
  $("#ddi-create").hidden = !can("brand");
  if (can("brand")) companyOptions($("#ddi-create [name=company_id]"));
  let ddis;
  try { ddis = await listAll("/ddis"); } catch (e) { $("#ddi-error").textContent = e.message; return; }
  for (const d of ddis) { state.ddis.set(d.id, d); tb.append(ddiRow(d)); }
  if (!ddis.length) tb.append(el("tr", {}, el("td", { colSpan: 6, textContent: "No DDIs." })));
}

$("#ddi-create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target, status = $(".status", f);
  const body = { number: val(f, "number"), company_id: val(f, "company_id"), record_calls: val(f, "record_calls"), announcement: val(f, "announcement"), consent: val(f, "consent") };
  clearErrors(f); setStatus(status, "", "creating…");
  try {
    const d = await api("POST", "/ddis", body);
    state.ddis.set(d.id, d);
    f.elements.namedItem("number").value = ""; f.elements.namedItem("announcement").value = "";
    await loadDDIs();
    setStatus($("#ddi-create .status"), "ok", "Created " + d.number + " — calls to it that start from now follow its mode.");
  } catch (e) { setStatus(status, "error", showErrors(f, e)); }
});

// ---- companies ----
function companyRow(c) {
  const full = can("brand");
  const tr = el("tr", { className: "company" });
  tr.dataset.id = c.id;
  const status = el("span", { className: "status" });
  const name = el("input", { className: "name", value: c.name, size: 14 });
  const stereo = el("input", { type: "checkbox", className: "stereo", checked: !!c.stereo });
  const country = el("input", { className: "country", value: c.country || "", size: 3, maxLength: 2, placeholder: "auto" });
  const cells = [el("td", { title: "Company" }, field("Name", name, "name"))];
  if (state.me.role === "platform") cells.push(el("td", { title: "Brand", textContent: (state.brands.get(c.brand_id) || {}).name || c.brand_id }));
  let read;
  if (full) {
    const mode = el("select", { className: "on-demand" });
    for (const m of ["disabled", "key", "key_dtmf"]) mode.append(option(m, modeLabel(m), c.on_demand === m));
    const hint = el("span", { className: "hint on-demand-hint", textContent: modeHint[c.on_demand] || "" });
    mode.addEventListener("change", () => { hint.textContent = modeHint[mode.value] || ""; });
    const code = el("input", { className: "on-demand-code", value: c.on_demand_code || "", size: 3, inputMode: "numeric", maxLength: 4, placeholder: "7" });
    const mask = el("input", { className: "mask-code", value: c.mask_code || "", size: 3, inputMode: "numeric", maxLength: 4, placeholder: "none" });
    const removal = el("input", { type: "checkbox", className: "removal", checked: c.allow_recording_removal !== false });
    const retention = el("input", { type: "number", className: "retention", value: String(c.retention_days || 0), min: 0, size: 5 });
    const quota = el("input", { type: "number", className: "quota", value: String(c.quota_mb || 0), min: 0, size: 7 });
    const encrypt = el("input", { type: "checkbox", className: "encrypt", checked: !!c.encrypt_at_rest });
    cells.push(el("td", { title: "On-demand", className: "wide" }, field("On-demand", mode, "on_demand"), hint),
      el("td", { title: "Code" }, field("Code (*…)", code, "on_demand_code")),
      el("td", { title: "Mask code", className: "wide" }, field("Mask code (*…)", mask, "mask_code"),
        el("span", { className: "hint mask-hint", textContent: MASK_HINT })),
      el("td", { title: "Removal allowed" }, field("Removal allowed", removal, "allow_recording_removal")),
      el("td", { title: "Retention" }, field("Retention days (0 keeps)", retention, "retention_days")),
      el("td", { title: "Quota" }, field("Quota MB (0 unlimited)", quota, "quota_mb")),
      el("td", { title: "Encryption", className: "wide" }, field("Encrypt at rest", encrypt, "encrypt_at_rest"),
        el("span", { className: "hint encrypt-hint", textContent: ENCRYPT_HINT })));
    read = () => ({ on_demand: mode.value, on_demand_code: code.value.trim().replace(/^\*/, ""),
      mask_code: mask.value.trim().replace(/^\*/, ""), allow_recording_removal: removal.checked,
      retention_days: Number(retention.value), quota_mb: Number(quota.value), encrypt_at_rest: encrypt.checked });
  } else {
    // A company admin may not change these (403 from the API): shown, not offered.
    const ro = (label, text, cls) => el("td", { title: label + " (set by your brand)", className: "readonly " + cls }, el("span", { className: "ro-label", textContent: label + ": " }), text);
    cells.push(ro("On-demand", modeLabel(c.on_demand) + (c.on_demand !== "disabled" ? " · *" + c.on_demand_code : ""), "ro-on-demand"),
      ro("Mask code", c.mask_code ? "*" + c.mask_code + " pauses and resumes the recording" : "none", "ro-mask"),
      ro("Removal allowed", c.allow_recording_removal !== false ? "yes" : "no", "ro-removal"),
      ro("Retention", c.retention_days ? c.retention_days + " days" : "kept", "ro-retention"),
      ro("Quota", c.quota_mb ? c.quota_mb + " MB" : "unlimited", "ro-quota"),
      ro("Encryption at rest", c.encrypt_at_rest ? "on: new recordings are sealed on disk" : "off", "ro-encrypt"));
    read = () => ({});
  }
  cells.push(el("td", { title: "Stereo" }, field("Stereo", stereo, "stereo")),
    el("td", { title: "Country" }, field("Country", country, "country")));
  const actions = el("td", { className: "actions" },
    el("button", { className: "save", textContent: "Save", onclick: async () => {
      const upd = { ...c, name: name.value.trim(), stereo: stereo.checked, country: country.value.trim().toUpperCase(), ...read() };
      const stored = await save("company", "/companies/" + c.id, c, upd, tr, status);
      if (stored) { c = stored; state.companies.set(c.id, c); }
    } }));
  actions.append(el("button", { className: "keys", textContent: "Keys", title: "The company's encryption keys", onclick: () => toggleKeys(tr, c) }));
  if (full) {
    actions.append(el("button", { className: "delete danger", textContent: "Delete", onclick: async () => {
      if (!confirm("Delete the company " + c.name + "? Only a company without DDIs, users and recordings can be deleted; its tokens are revoked.")) return;
      try { await api("DELETE", "/companies/" + c.id); state.companies.delete(c.id); tr.remove(); }
      catch (e) { setStatus(status, "error", "Not deleted: " + e.message); }
    } }));
  }
  actions.append(status);
  tr.append(...cells, actions);
  return tr;
}

// toggleKeys shows (or hides) under a company's row its data keys for encryption at rest, ids
// and dates only, with the rotation (company admins and above: POST /companies/{id}/keys/rotate).
async function toggleKeys(tr, c) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains("keys-row")) { next.remove(); return; }
  const cell = el("td", { colSpan: tr.children.length, className: "keys-detail" });
  const row = el("tr", { className: "keys-row" }, cell);
  tr.after(row);
  const status = el("span", { className: "status" });
  const render = async () => {
    let reply;
    try { reply = await api("GET", "/companies/" + c.id + "/keys"); } catch (e) { setStatus(status, "error", e.message); cell.replaceChildren(status); return; }
    const list = el("ul", { className: "key-list" });
    for (const k of reply.items) {
      list.append(el("li", { className: k.retired_at ? "key retired" : "key current",
        textContent: k.id + " · made " + utcTime(k.created_at) + (k.retired_at ? " · retired " + utcTime(k.retired_at) + " (still opens what it sealed)" : " · current") }));
    }
    const intro = reply.encrypt_at_rest ? "Encryption at rest is on: new recordings are sealed with the current key."
      : "Encryption at rest is off" + (reply.items.length ? ": the keys below still open the recordings they sealed." : ".");
    const rotate = el("button", { className: "rotate-key", textContent: "Rotate key", onclick: async () => {
      if (!confirm("Make a new data key for " + c.name + "? Recordings from now on are sealed with it; the older keys still open theirs.")) return;
      try {
        const k = await api("POST", "/companies/" + c.id + "/keys/rotate");
        await render();
        setStatus(status, "ok", "New key " + k.id + " seals the recordings that start from now.");
      } catch (e) { setStatus(status, "error", "Not rotated: " + e.message); }
    } });
    cell.replaceChildren(el("p", { className: "keys-intro", textContent: intro }),
      reply.items.length ? list : el("p", { className: "no-keys", textContent: "No key yet: the first sealed recording makes one." }), rotate, status);
  };
  await render();
}

async function loadCompanies() {
  const tb = $("#co-table tbody");
  tb.replaceChildren();
  $("#co-error").textContent = "";
  const full = can("brand");
  $("#co-create").hidden = !full;
  $("#master-key").hidden = state.me.role !== "platform";
  $("#on-demand-help").hidden = !full;
  $$co(".col-brand").forEach((th) => { th.hidden = state.me.role !== "platform"; });
  $$co(".col-full").forEach((th) => { th.hidden = !full; });
  $$co(".col-ro").forEach((th) => { th.hidden = full; });
  const brandSel = $("#co-create [name=brand_id]");
  brandSel.closest("label").hidden = state.me.role !== "platform";
  brandSel.replaceChildren(...[...state.brands.values()].map((b) => option(b.id, b.name, false)));
  let cos;
  try { cos = await listAll("/companies"); } catch (e) { $("#co-error").textContent = e.message; return; }
  for (const c of cos) { state.companies.set(c.id, c); tb.append(companyRow(c)); }
}
const $$co = (sel) => [...document.querySelectorAll("#co-table thead " + sel)];

$("#co-create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target, status = $(".status", f);
  const body = { name: val(f, "name") };
  if (state.me.role === "platform") body.brand_id = val(f, "brand_id");
  clearErrors(f); setStatus(status, "", "creating…");
  try {
    const c = await api("POST", "/companies", body);
    state.companies.set(c.id, c);
    f.elements.namedItem("name").value = "";
    await loadCompanies();
    setStatus($("#co-create .status"), "ok", "Created " + c.name + " (on-demand disabled until you change it).");
  } catch (e) { setStatus(status, "error", showErrors(f, e)); }
});

$("#master-key .rotate-master").addEventListener("click", async () => {
  const status = $("#master-key .status");
  if (!confirm("Rotate the master key? A new key is written into the master key file and every company's data key is rewrapped with it. Back the file up again afterwards.")) return;
  setStatus(status, "", "rotating…");
  try {
    const r = await api("POST", "/encryption/master/rotate");
    setStatus(status, "ok", "New master key " + r.master_key_id + " wraps " + r.rewrapped + " data key" + (r.rewrapped === 1 ? "" : "s") + ". Back up the master key file again.");
  } catch (e) { setStatus(status, "error", "Not rotated: " + e.message); }
});

registerView("ddis", loadDDIs);
registerView("companies", loadCompanies);
