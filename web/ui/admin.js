// The administration views: DDIs (company admins and above) and companies (brand admins and above).
import { $, state, api, el, listAll, registerView } from "./core.js";

// ---- DDIs ----
async function loadDDIs() {
  const tb = $("#ddi-table tbody");
  tb.replaceChildren();
  $("#ddi-error").textContent = "";
  let ddis;
  try { ddis = await listAll("/ddis"); } catch (e) { $("#ddi-error").textContent = e.message; return; }
  for (const d of ddis) {
    const sel = el("select", { className: "record-calls" });
    for (const m of ["none", "inbound", "outbound", "all"]) sel.append(el("option", { value: m, textContent: m, selected: d.record_calls === m }));
    const status = el("span", { className: "status" });
    sel.addEventListener("change", async () => {
      status.className = "status"; status.textContent = "saving…";
      try { await api("PATCH", "/ddis/" + d.id, { record_calls: sel.value }); status.className = "status ok"; status.textContent = "saved"; }
      catch (e) { status.className = "status error"; status.textContent = e.message; sel.value = d.record_calls; }
    });
    const co = state.companies.get(d.company_id);
    const tr = el("tr", { className: "ddi" }, el("td", { textContent: d.number }), el("td", { textContent: co ? co.name : d.company_id }), el("td", {}, sel), el("td", {}, status));
    tr.dataset.id = d.id;
    tb.append(tr);
  }
}

// ---- companies (brand and platform admins: on-demand setting) ----
async function loadCompanies() {
  const tb = $("#co-table tbody");
  tb.replaceChildren();
  $("#co-error").textContent = "";
  let cos;
  try { cos = await listAll("/companies"); } catch (e) { $("#co-error").textContent = e.message; return; }
  for (const c of cos) {
    const mode = el("select", { className: "on-demand" });
    for (const m of ["disabled", "key", "key_dtmf"]) mode.append(el("option", { value: m, textContent: m.replace("_", " + "), selected: c.on_demand === m }));
    const code = el("input", { className: "on-demand-code", value: c.on_demand_code || "", size: 3, inputMode: "numeric", maxLength: 3 });
    const removal = el("input", { type: "checkbox", className: "removal", checked: c.allow_recording_removal !== false });
    const status = el("span", { className: "status" });
    const save = el("button", { className: "save", textContent: "Save", onclick: async () => {
      status.className = "status"; status.textContent = "saving…";
      try {
        const upd = await api("PATCH", "/companies/" + c.id, { on_demand: mode.value, on_demand_code: code.value, allow_recording_removal: removal.checked });
        state.companies.set(c.id, upd); status.className = "status ok"; status.textContent = "saved";
      } catch (e) { status.className = "status error"; status.textContent = e.message; }
    } });
    const tr = el("tr", { className: "company" }, el("td", { textContent: c.name }), el("td", {}, mode), el("td", {}, code), el("td", {}, removal), el("td", { className: "actions" }, save, status));
    tr.dataset.id = c.id;
    tb.append(tr);
  }
}

registerView("ddis", loadDDIs);
registerView("companies", loadCompanies);
