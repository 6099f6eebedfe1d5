// callrec web page: plain JS against /api/v1 with the token kept in sessionStorage.
"use strict";
(() => {
  const $ = (sel, el = document) => el.querySelector(sel);
  const ranks = { user: 1, company_admin: 2, brand: 3, platform: 4 };
  const state = { token: sessionStorage.getItem("callrec.token") || "", me: null,
    companies: new Map(), users: new Map(), ddis: new Map(), cursors: [""], page: 0, next: "" };

  async function api(method, path, body) {
    const opt = { method, headers: { Authorization: "Bearer " + state.token } };
    if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
    const resp = await fetch("/api/v1" + path, opt);
    if (resp.status === 204) return null;
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const e = (data && data.error) || {};
      const err = new Error((e.message || resp.statusText) + (e.field ? " (" + e.field + ")" : ""));
      err.status = resp.status;
      throw err;
    }
    return data;
  }
  const can = (role) => state.me && ranks[state.me.role] >= ranks[role];
  const el = (tag, props = {}, ...kids) => {
    const e = Object.assign(document.createElement(tag), props);
    for (const k of kids) e.append(k);
    return e;
  };
  async function listAll(path) {
    let out = [], cursor = "";
    do {
      const sep = path.includes("?") ? "&" : "?";
      const page = await api("GET", path + sep + "limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      out = out.concat(page.items); cursor = page.next_cursor;
    } while (cursor);
    return out;
  }

  // ---- sign in ----
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
    $("#whoami").textContent = "signed in as " + state.me.role.replace("_", " ") + (state.me.name ? " (" + state.me.name + ")" : "");
    document.querySelectorAll("nav .tab").forEach((b) => { b.hidden = b.dataset.min && !can(b.dataset.min); });
    await loadLookups();
    show("recordings");
  }
  async function loadLookups() {
    state.companies.clear(); state.users.clear(); state.ddis.clear();
    try {
      for (const c of await listAll("/companies")) state.companies.set(c.id, c);
      if (can("company_admin")) {
        for (const u of await listAll("/users")) state.users.set(u.id, u);
        for (const d of await listAll("/ddis")) state.ddis.set(d.id, d);
      }
      else if (state.me.user_id) state.users.set(state.me.user_id, await api("GET", "/users/" + state.me.user_id));
    } catch (e) { $("#rec-error").textContent = e.message; }
  }
  $("#signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("#token").value.trim()); });
  $("#signout").addEventListener("click", () => { sessionStorage.removeItem("callrec.token"); location.reload(); });

  function show(view) {
    document.querySelectorAll(".view").forEach((s) => { s.hidden = s.id !== view; });
    document.querySelectorAll("nav .tab").forEach((b) => b.setAttribute("aria-current", b.dataset.view === view ? "page" : "false"));
    if (view === "recordings") { state.cursors = [""]; state.page = 0; loadRecordings(); }
    if (view === "ddis") loadDDIs();
    if (view === "companies") loadCompanies();
  }
  document.querySelectorAll("nav .tab").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));

  // ---- recordings ----
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
    const cur = state.cursors[state.page];
    if (cur) q.set("cursor", cur);
    $("#rec-error").textContent = "";
    let page;
    try { page = await api("GET", "/recordings?" + q.toString()); } catch (e) { $("#rec-error").textContent = e.message; return; }
    state.next = page.next_cursor;
    const tb = $("#rec-table tbody");
    tb.replaceChildren();
    for (const r of page.items) tb.append(recordingRow(r));
    if (!page.items.length) tb.append(el("tr", {}, el("td", { colSpan: 12, textContent: "No recordings." })));
    $("#prev-page").disabled = state.page === 0;
    $("#next-page").disabled = !state.next;
    document.querySelectorAll(".col-company").forEach((c) => { c.hidden = !can("brand"); });
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
        ev.preventDefault(); $("#filters [name=state]").value = st; state.cursors = [""]; state.page = 0; loadRecordings();
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
  $("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); state.cursors = [""]; state.page = 0; loadRecordings(); });
  // Search as people type: once 3 digits are in (the API's minimum) or the box is emptied.
  let numberTimer;
  $("#filters [name=number]").addEventListener("input", (ev) => {
    clearTimeout(numberTimer);
    const digits = ev.target.value.replace(/\D/g, "").replace(/^00/, "").length; // 00 is the international prefix
    if (digits > 0 && digits < 3) return;
    numberTimer = setTimeout(() => { state.cursors = [""]; state.page = 0; loadRecordings(); }, 250);
  });
  $("#next-page").addEventListener("click", () => { state.cursors[state.page + 1] = state.next; state.page++; loadRecordings(); });
  $("#prev-page").addEventListener("click", () => { if (state.page > 0) { state.page--; loadRecordings(); } });

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

  if (state.token) signIn(state.token);
})();
