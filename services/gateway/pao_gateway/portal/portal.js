// The PAO portal: browse the catalog, fill the generated form, follow your requests.
// Plain JavaScript over the gateway's /api/v1, no build step. The forms are rendered from
// the JSON Schema + uiSchema that GET /catalog/items/{id}/form returns; the server
// validates with the same schema (POST .../validate), so this renderer only has to draw.
"use strict";

const API = "/api/v1";
const TERMINAL = new Set(["completed", "failed", "rejected", "expired", "cancelled", "rolled_back"]);
const view = document.getElementById("view");
let liveStream = null;

// --- talking to the gateway -------------------------------------------------------------

function token() { return localStorage.getItem("pao.token") || ""; }

async function api(path, options = {}) {
  const headers = { "Accept": "application/json", ...(options.headers || {}) };
  if (token()) headers["Authorization"] = `Bearer ${token()}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method: options.method, signal: options.signal, headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (response.status === 401) { signIn(); throw new Error("sign in first"); }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  // 422 (and what options.answers lists) is the caller's to show; other failures throw.
  if (!response.ok && response.status !== 422 && !(options.answers || []).includes(response.status)) {
    throw new Error(body?.detail?.message || body?.detail || body?.message || `HTTP ${response.status}`);
  }
  return { status: response.status, body };
}

function whoami() {
  try {
    const claims = JSON.parse(atob(token().split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    const teams = claims.teams ? ` (${[].concat(claims.teams).join(", ")})` : "";
    return `${claims.sub}${teams}`;
  } catch { return ""; }
}

async function signIn() {
  const dialog = document.getElementById("signin");
  if (dialog.open) return;
  const dev = await fetch(API + "/dev/token").then(r => r.ok).catch(() => false);
  document.getElementById("dev-signin").hidden = !dev;
  dialog.showModal();
}

document.getElementById("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const dialog = document.getElementById("signin");
  const form = event.target.elements;
  if (form.token.value.trim()) {
    localStorage.setItem("pao.token", form.token.value.trim());
  } else if (form.user.value.trim()) {
    const split = (s) => s.split(",").map(x => x.trim()).filter(Boolean);
    const r = await fetch(API + "/dev/token", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: form.user.value.trim(), teams: split(form.teams.value), roles: split(form.roles.value) }),
    });
    if (r.ok) localStorage.setItem("pao.token", (await r.json()).token);
  }
  if (token()) dialog.close();
  route();
});

// --- small DOM helpers ------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "className") node.className = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function show(...nodes) { view.replaceChildren(...nodes.filter(n => n !== null && n !== undefined)); }
function failure(error) { show(el("div", { className: "card error" }, String(error.message || error))); }

// --- catalog ----------------------------------------------------------------------------

async function catalogPage(query = "") {
  const { body } = await api(`/catalog/items?limit=100${query ? `&q=${encodeURIComponent(query)}` : ""}`);
  const items = body.items || [];
  const search = el("input", { placeholder: "Search the catalog…", value: query });
  search.addEventListener("change", () => catalogPage(search.value).catch(failure));
  show(
    el("h1", {}, "Catalog"), search, el("p", { className: "muted" }, `${body.total ?? items.length} item(s)`),
    ...items.map(item => el("div", { className: item.can_request === false ? "card locked" : "card" },
      el("h3", {}, el("a", { href: `#/items/${item.id}` }, item.name)),
      accessNote(item),
      el("div", { className: "muted" }, `${item.category || ""} · owned by ${item.owner || "?"} · v${item.version}`
        + ` · ${item.fulfillment_mode}${item.approval_required ? " · approval" : ""}`),
      el("p", {}, item.description || ""),
      el("div", {}, (item.tags || []).map(t => el("span", { className: "tag" }, t))))),
  );
}

// The gateway marks each item for the person asking: can_request false (with who may) for
// an item this person may not request. Shown, not hidden: a catalog says what exists.
function accessNote(item) {
  if (item.can_request !== false) return null;
  return el("div", { className: "access-note" },
    `You cannot request this: ${item.access_reason || "not allowed"}. Ask ${item.owner || "the owning team"} for access.`);
}

// --- forms ------------------------------------------------------------------------------

function visibleWhen(condition, values) {
  // conditions.js decides, as the server does; a condition it cannot read shows the field
  // (the server still refuses what the condition hides).
  try { return PaoConditions.conditionHolds(condition, values); } catch (error) {
    console.warn(String(error));
    return true;
  }
}

function conditionalFields(schema) {
  // Fields that only exist in an allOf branch: {name: [branch...]}.
  const found = {};
  for (const branch of schema.allOf || []) {
    for (const [name, fieldSchema] of Object.entries(branch.then?.properties || {})) {
      (found[name] ||= []).push({ if: branch.if, schema: fieldSchema, required: (branch.then.required || []).includes(name) });
    }
  }
  return found;
}

class FormRenderer {
  constructor(form) {
    this.schema = form.schema;
    this.ui = form.uiSchema || {};
    this.inputs = {};   // name -> {read(), node, wrapper}
    this.conditional = conditionalFields(this.schema);
  }

  fieldSchema(name) {
    return this.schema.properties?.[name] || this.conditional[name]?.[0]?.schema || {};
  }

  order() {
    const names = [...Object.keys(this.schema.properties || {}), ...Object.keys(this.conditional)];
    const wanted = (this.ui["ui:order"] || []).filter(n => n !== "*");
    return [...new Set([...wanted.filter(n => names.includes(n)), ...names])];
  }

  render() {
    const layout = this.ui["ui:layout"];
    const groups = layout?.sections?.length
      ? layout.sections.map(s => ({ title: s.title, fields: s.fields }))
      : [{ title: null, fields: this.order() }];
    const placed = new Set(groups.flatMap(g => g.fields));
    const rest = this.order().filter(n => !placed.has(n));
    if (rest.length) groups.push({ title: null, fields: rest });
    const nodes = groups.map(group => {
      const fields = group.fields.map(name => this.field(name));
      return group.title ? el("fieldset", {}, el("legend", {}, group.title), fields) : el("div", {}, fields);
    });
    this.refreshVisibility();
    return nodes;
  }

  field(name) {
    const schema = this.fieldSchema(name);
    const ui = this.ui[name] || {};
    const required = (this.schema.required || []).includes(name);
    const input = this.widget(schema, ui);
    input.node.addEventListener?.("change", () => this.refreshVisibility());
    const error = el("div", { className: "error" });
    const wrapper = el("div", { "data-field": name },
      el("label", {}, `${schema.title || name}${required ? " *" : ""}`,
        schema.description || ui["ui:help"] ? el("div", { className: "help" }, ui["ui:help"] || schema.description) : null),
      input.node, error);
    this.inputs[name] = { ...input, wrapper, error };
    return wrapper;
  }

  widget(schema, ui) {
    const options = schema.oneOf?.filter(o => "const" in o);
    if (options?.length || schema.enum) {
      const choices = options?.length ? options.map(o => [o.const, o.title || o.const]) : schema.enum.map(v => [v, v]);
      const select = el("select", {}, el("option", { value: "" }, "—"),
        choices.map(([v, t]) => el("option", { value: JSON.stringify(v), selected: v === schema.default }, t)));
      return { node: select, read: () => (select.value ? JSON.parse(select.value) : undefined) };
    }
    if (schema.type === "array" && (schema.items?.oneOf || schema.items?.enum)) {
      const choices = schema.items.oneOf ? schema.items.oneOf.map(o => [o.const, o.title || o.const]) : schema.items.enum.map(v => [v, v]);
      const select = el("select", { multiple: true }, choices.map(([v, t]) =>
        el("option", { value: JSON.stringify(v), selected: (schema.default || []).includes(v) }, t)));
      return { node: select, read: () => [...select.selectedOptions].map(o => JSON.parse(o.value)) };
    }
    if (schema.type === "array" && schema.items?.type === "object") return this.rows(schema, ui);
    if (schema.type === "object") return this.keyValues(schema);
    if (schema.type === "boolean") {
      const box = el("input", { type: "checkbox", checked: schema.default === true });
      return { node: box, read: () => box.checked };
    }
    if (schema.type === "integer" || schema.type === "number") {
      const box = el("input", { type: "number", value: schema.default, min: schema.minimum, max: schema.maximum,
        step: schema.multipleOf || (schema.type === "integer" ? 1 : "any"), placeholder: ui["ui:placeholder"] });
      return { node: box, read: () => (box.value === "" ? undefined : Number(box.value)) };
    }
    const kind = { email: "email", uri: "url", date: "date", "date-time": "datetime-local" }[schema.format]
      || (ui["ui:widget"] === "password" ? "password" : "text");
    const box = ui["ui:widget"] === "textarea"
      ? el("textarea", { rows: 4, placeholder: ui["ui:placeholder"] }, schema.default || "")
      : el("input", { type: kind, value: schema.default, placeholder: ui["ui:placeholder"] });
    const optionsUrl = ui["ui:options"]?.optionsUrl;
    if (optionsUrl) this.loadOptions(box, optionsUrl);
    return {
      node: box,
      read: () => {
        if (box.value === "") return undefined;
        return kind === "datetime-local" ? new Date(box.value).toISOString() : box.value;
      },
    };
  }

  async loadOptions(box, url) {
    try {
      const list = await (await fetch(url)).json();
      const id = `options-${Math.random().toString(36).slice(2)}`;
      box.setAttribute("list", id);
      box.after(el("datalist", { id }, (Array.isArray(list) ? list : list.items || []).map(o =>
        el("option", { value: typeof o === "object" ? o.value ?? o.id : o }, typeof o === "object" ? o.label ?? o.title : o))));
    } catch { /* the field stays a free text field */ }
  }

  rows(schema, ui) {
    const container = el("div");
    const rows = [];
    const add = () => {
      const cells = {};
      const row = el("div", { className: "card" });
      for (const [column, columnSchema] of Object.entries(schema.items.properties || {})) {
        const input = this.widget(columnSchema, ui.items?.[column] || {});
        cells[column] = input;
        row.append(el("label", {}, columnSchema.title || column), input.node);
      }
      const entry = { row, cells };
      row.append(el("button", { type: "button", className: "secondary", onclick: () => {
        rows.splice(rows.indexOf(entry), 1); row.remove();
      } }, "Remove"));
      rows.push(entry);
      container.insertBefore(row, addButton);
    };
    const addButton = el("button", { type: "button", className: "secondary", onclick: add }, "Add");
    container.append(addButton);
    for (let i = 0; i < (schema.minItems || 0); i++) add();
    return {
      node: container,
      read: () => rows.map(({ cells }) => Object.fromEntries(
        Object.entries(cells).map(([k, c]) => [k, c.read()]).filter(([, v]) => v !== undefined))),
    };
  }

  keyValues() {
    const container = el("div");
    const pairs = [];
    const addButton = el("button", { type: "button", className: "secondary", onclick: () => {
      const key = el("input", { placeholder: "key" });
      const value = el("input", { placeholder: "value" });
      pairs.push([key, value]);
      container.insertBefore(el("div", {}, key, value), addButton);
    } }, "Add");
    container.append(addButton);
    return { node: container, read: () => {
      const entries = pairs.filter(([k]) => k.value).map(([k, v]) => [k.value, v.value]);
      return entries.length ? Object.fromEntries(entries) : undefined;
    } };
  }

  rawValues() {
    return Object.fromEntries(Object.entries(this.inputs).map(([name, input]) => [name, input.read()]));
  }

  refreshVisibility() {
    const values = this.rawValues();
    for (const [name, branches] of Object.entries(this.conditional)) {
      const input = this.inputs[name];
      if (input) input.wrapper.hidden = !branches.some(b => visibleWhen(b.if, values));
    }
  }

  values() {
    const values = {};
    for (const [name, input] of Object.entries(this.inputs)) {
      const value = input.read();
      if (!input.wrapper.hidden && value !== undefined && !(Array.isArray(value) && value.length === 0 && !this.schema.required?.includes(name))) {
        values[name] = value;
      }
    }
    return values;
  }

  showErrors(errors) {
    for (const input of Object.values(this.inputs)) input.error.textContent = "";
    const general = [];
    for (const { field, message } of errors) {
      const name = String(field || "").split(/[.[]/)[0];
      if (this.inputs[name]) this.inputs[name].error.textContent += `${field === name ? "" : field + ": "}${message} `;
      else general.push(`${field || "form"}: ${message}`);
    }
    return general;
  }
}

// "· change: normal, major when inputs.environment == 'production'" (the form's change_class)
function changeClassNote(spec) {
  if (!spec || (spec.default === "standard" && !(spec.rules || []).length)) return "";
  const rules = (spec.rules || []).map(r => `${r["class"]} when ${r.when}`);
  return ` · change: ${[spec.default, ...rules].join(", ")}`;
}

function changeLine(r) {
  const c = r.change;
  if (!c) return null;
  let text = `Change class: ${c["class"]}`;
  if (c.overridden_by) text += ` · emergency override of ${c.window} by ${c.overridden_by}: ${c.override_reason}`;
  else if (r.status === "scheduled") text += ` · held by change window ${c.window} until ${new Date(c.until).toLocaleString()}`;
  else if (c.window) text += ` · change window ${c.window} (${c.action})`;
  return el("div", { className: "muted" }, text);
}

// "Change request: CHG0010001 · approval requested" (ServiceNow), with why it waits
function changeRequestLine(r) {
  const cr = r.change?.change_request;
  if (!cr) return null;
  const name = cr.number || "being opened";
  const parts = [cr.url ? el("a", { href: cr.url, target: "_blank" }, name) : name];
  if (cr.approval) parts.push(` · approval ${cr.approval}${cr.decided_by ? ` by ${cr.decided_by}` : ""}`);
  if (cr.close_code || cr.phase === "closed") parts.push(` · closed ${cr.close_code || "(canceled)"}`);
  if (cr.last_error && cr.retry_at) parts.push(` · ServiceNow did not answer (${cr.last_error}); trying again at ${new Date(cr.retry_at).toLocaleString()}`);
  return el("div", { className: "muted" }, "Change request: ", ...parts);
}

async function itemPage(itemId) {
  const [{ body: item }, { body: form }] = await Promise.all([
    api(`/catalog/items/${encodeURIComponent(itemId)}`), api(`/catalog/items/${encodeURIComponent(itemId)}/form`),
  ]);
  const renderer = new FormRenderer(form);
  const problems = el("div", { className: "error" });
  const idempotencyKey = crypto.randomUUID();
  const submit = async (event) => {
    event.preventDefault();
    const inputs = renderer.values();
    const { body: check } = await api(`/catalog/items/${encodeURIComponent(itemId)}/validate`, { method: "POST", body: { inputs } });
    problems.textContent = renderer.showErrors(check.errors || []).join("; ");
    if (check.errors?.length) return;
    const { status, body } = await api("/requests", {
      method: "POST", headers: { "Idempotency-Key": idempotencyKey },
      body: { item_id: itemId, item_version: form.version, inputs },
    });
    if (status === 422) {
      problems.textContent = body.change_window ? body.detail
        : renderer.showErrors(body.errors || body.detail?.errors || []).join("; ");
      return;
    }
    location.hash = `#/requests/${body.id}`;
  };
  const submitText = form.uiSchema?.["ui:submitButtonOptions"]?.submitText || "Request";
  const locked = item.can_request === false;  // the server refuses it too (403)
  show(
    el("h1", {}, item.name), el("p", { className: "muted" }, `v${form.version} · ${item.fulfillment_mode}`
      + (item.approval_required ? " · needs approval" : "") + changeClassNote(form.change_class)),
    el("p", {}, item.description || ""),
    accessNote(item),
    el("form", { className: "card", onsubmit: (e) => submit(e).catch(failure) },
      renderer.render(), problems, el("button", { type: "submit", disabled: locked }, submitText)),
  );
}

// --- requests ---------------------------------------------------------------------------

async function requestsPage() {
  const { body } = await api("/requests?limit=50");
  show(el("h1", {}, "Requests"), el("table", {},
    el("tr", {}, el("th", {}, "Request"), el("th", {}, "Item"), el("th", {}, "Status"), el("th", {}, "Submitted")),
    (body.items || []).map(r => el("tr", {},
      el("td", {}, el("a", { href: `#/requests/${r.id}` }, r.id.slice(0, 8))),
      el("td", {}, `${r.item_id} v${r.item_version || "?"}`),
      el("td", { className: `status ${r.status}` }, r.status),
      el("td", {}, r.submitted_at ? new Date(r.submitted_at).toLocaleString() : "")))));
}

// --- approvals: what awaits me, decided with a comment ------------------------------------

async function approvalsPage() {
  const { body } = await api("/approvals");
  const items = body.items || [];
  const row = (entry) => {
    const r = entry.request;
    const stage = entry.stage || {};
    const comment = el("input", { placeholder: "comment (optional)" });
    // The gateway accepts a decision (202) before the orchestrator records it, so the inbox
    // fetched right away would still list this request: the row says what was sent instead.
    const decide = (verb) => async () => {
      cell.querySelectorAll("button").forEach(b => { b.disabled = true; });
      try {
        await api(`/requests/${encodeURIComponent(r.id)}/${verb}`, { method: "POST", body: { comment: comment.value || null } });
      } finally { cell.querySelectorAll("button").forEach(b => { b.disabled = false; }); }
      cell.replaceChildren(el("span", { className: "muted decided" },
        `${verb === "approve" ? "Approved" : "Rejected"}${comment.value ? ` "${comment.value}"` : ""}`));
    };
    const cell = el("td", {}, comment,
      el("button", { onclick: () => decide("approve")().catch(failure) }, "Approve"),
      el("button", { className: "secondary", onclick: () => decide("reject")().catch(failure) }, "Reject"));
    return el("tr", {},
      el("td", {}, el("a", { href: `#/requests/${r.id}` }, r.id.slice(0, 8))),
      el("td", {}, `${r.item_id} v${r.item_version || "?"}`),
      el("td", {}, r.requester?.id || ""),
      el("td", {}, `${entry.stage_number}/${entry.stage_count}${stage.name ? " " + stage.name : ""} (${stage.rule || "any"})`),
      el("td", {}, stage.expires_at ? new Date(stage.expires_at).toLocaleString() : ""),
      cell);
  };
  show(el("h1", {}, "Awaiting my approval"),
    items.length ? el("table", {},
      el("tr", {}, ["Request", "Item", "Requester", "Stage", "Expires", "Decision"].map(h => el("th", {}, h))),
      items.map(row)) : el("p", { className: "muted" }, "Nothing awaits your approval."));
}

function stagesCard(approval) {
  const stages = approval.stages || [];
  if (!stages.length) return null;
  return el("div", { className: "card" }, el("h3", {}, `Approval (${stages.length} of ${approval.stage_count} stages begun)`),
    el("table", {},
      el("tr", {}, ["Stage", "Approvers", "Rule", "Status", "Decisions"].map(h => el("th", {}, h))),
      stages.map((st, i) => el("tr", {},
        el("td", {}, `${i + 1}${st.name ? " " + st.name : ""}`),
        el("td", {}, [...(st.approver_users || []), ...(st.approver_teams || [])].join(", ")),
        el("td", {}, st.rule === "n" ? `${st.n} of them` : st.rule),
        el("td", { className: `status ${st.status}` }, st.status),
        el("td", {}, (st.decisions || []).map(d => el("div", {},
          `${d.by}: ${d.decision}${d.comment ? ` "${d.comment}"` : ""}${d.at ? " · " + new Date(d.at).toLocaleString() : ""}`)))))));
}

async function notificationsCard(requestId) {
  const { body } = await api(`/requests/${encodeURIComponent(requestId)}/notifications`);
  const items = body.items || [];
  if (!items.length) return null;
  return el("div", { className: "card" }, el("h3", {}, "Notifications"), el("table", {},
    el("tr", {}, ["When", "Channel", "To", "Status", "Attempts"].map(h => el("th", {}, h))),
    items.map(n => el("tr", {},
      el("td", {}, n.trigger), el("td", {}, n.channel), el("td", {}, n.target),
      el("td", { className: `status ${n.status}` }, n.status + (n.last_error ? ` (${n.last_error})` : "")),
      el("td", {}, n.attempts)))));
}

function stepsTable(steps) {
  return el("table", {},
    el("tr", {}, ["Step", "Action", "Status", "Attempts", "Outputs / error"].map(h => el("th", {}, h))),
    steps.map(s => el("tr", {},
      el("td", {}, s.id), el("td", {}, s.action_type || ""), el("td", { className: `status ${s.status}` }, s.status),
      el("td", {}, s.attempts ?? ""),
      el("td", {}, s.error ? el("span", { className: "error" }, s.error)
        : s.skipped_reason ? el("span", { className: "muted" }, s.skipped_reason)
        : (s.outputs && Object.keys(s.outputs).length ? el("pre", {}, JSON.stringify(s.outputs, null, 2)) : "")))));
}

async function requestPage(requestId) {
  const status = await renderRequest(requestId);
  if (!TERMINAL.has(status)) follow(requestId);
}

async function renderRequest(requestId) {
  const { body: r } = await api(`/requests/${encodeURIComponent(requestId)}`);
  const comment = el("input", { placeholder: "comment (optional)" });
  const act = (verb) => async () => {
    const body = verb === "cancel" ? { reason: comment.value || null } : { comment: comment.value || null };
    await api(`/requests/${encodeURIComponent(requestId)}/${verb}`, { method: "POST", body });
    if (!liveStream) follow(requestId);
  };
  const actions = [];
  if (r.status === "awaiting_approval") {
    actions.push(el("button", { onclick: () => act("approve")().catch(failure) }, "Approve"),
      el("button", { className: "secondary", onclick: () => act("reject")().catch(failure) }, "Reject"));
  }
  if (!TERMINAL.has(r.status)) {
    actions.push(el("button", { className: "secondary", onclick: () => act("cancel")().catch(failure) }, "Cancel request"));
  }
  show(
    el("h1", {}, `Request ${r.id.slice(0, 8)}`),
    el("div", { className: "card" },
      el("div", {}, "Status: ", el("span", { className: `status ${r.status}` }, r.status)),
      el("div", { className: "muted" }, `${r.item_id} v${r.item_version || "?"} · requested by ${r.requester?.id}`),
      changeLine(r),
      changeRequestLine(r),
      r.ticket ? el("div", {}, "Ticket: ", el("a", { href: r.ticket.url, target: "_blank" }, r.ticket.key)) : null,
      r.error ? el("div", { className: "error" }, r.error) : null,
      r.approval ? el("div", { className: "muted" }, `Approval by ${[...(r.approval.approver_teams || []), ...(r.approval.approver_users || [])].join(", ")}`
        + (r.approval.decided_by ? ` · decided by ${r.approval.decided_by}` : "")) : null,
      actions.length ? el("div", {}, comment, actions) : null),
    r.approval ? stagesCard(r.approval) : null,
    r.steps?.length ? el("div", { className: "card" }, el("h3", {}, "Steps"), stepsTable(r.steps)) : null,
    await notificationsCard(r.id).catch(() => null),
    r.outputs && Object.keys(r.outputs).length ? el("div", { className: "card" }, el("h3", {}, "Outputs"), el("pre", {}, JSON.stringify(r.outputs, null, 2))) : null,
    el("details", { className: "card" }, el("summary", {}, "Inputs"), el("pre", {}, JSON.stringify(r.inputs, null, 2))),
  );
  return r.status;
}

async function follow(requestId) {
  // EventSource cannot send an Authorization header, so read the SSE stream with fetch.
  if (liveStream) liveStream.abort();
  liveStream = new AbortController();
  const { signal } = liveStream;
  try {
    const response = await fetch(`${API}/requests/${encodeURIComponent(requestId)}/stream`,
      { headers: { Authorization: `Bearer ${token()}` }, signal });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      if (buffer.includes("\n\n")) {  // one or more complete SSE frames: show the new state
        buffer = buffer.slice(buffer.lastIndexOf("\n\n") + 2);
        if (location.hash !== `#/requests/${requestId}`) break;
        await renderRequest(requestId);
      }
    }
    liveStream = null;
  } catch (error) {
    if (error.name !== "AbortError") console.warn("live updates stopped", error);
  }
}

// --- resources: what my teams have, its history, its day-2 operations ---------------------

const RESOURCE_STATUSES = ["provisioning", "active", "updating", "decommissioning", "decommissioned", "failed"];
const when = (at) => (at ? new Date(at).toLocaleString() : "");
const resourceLink = (id) => `#/resources/${encodeURIComponent(id)}`;

async function resourcesPage(params) {
  const status = params.get("status") || "";
  const query = new URLSearchParams({ limit: "100" });
  if (status) query.append("status", status);
  const { body } = await api(`/resources?${query}`);
  const items = body.items || [];
  const filter = el("select", { "aria-label": "Status", className: "status-filter" },
    el("option", { value: "" }, "every status"),
    RESOURCE_STATUSES.map(s => el("option", { value: s, selected: s === status }, s)));
  filter.addEventListener("change", () => {
    location.hash = filter.value ? `#/resources?status=${filter.value}` : "#/resources";
  });
  show(
    el("h1", {}, "My resources"),
    el("p", { className: "muted" }, "What PAO provisioned for your teams: open one to see its outputs and history, or to change or decommission it."),
    filter,
    items.length ? el("table", { className: "resources" },
      el("tr", {}, ["Name", "Item", "Team", "Status", "Since", "Busy with"].map(h => el("th", {}, h))),
      items.map(r => el("tr", { "data-resource": r.id },
        el("td", {}, el("a", { href: resourceLink(r.id) }, r.name)),
        el("td", {}, `${r.item_id} v${r.item_version}`),
        el("td", {}, r.owner_team || ""),
        el("td", { className: `status ${r.status}` }, r.status),
        el("td", {}, when(r.updated_at || r.created_at)),
        el("td", {}, r.active_request
          ? el("a", { href: `#/requests/${r.active_request.request_id}` }, r.active_request.operation || "provisioning")
          : ""))))
      : el("p", { className: "muted" }, status ? `No ${status} resource.` : "Your teams have no resources yet: request something from the catalog."),
    body.next ? el("p", { className: "muted" }, `Showing the newest ${items.length}.`) : null,
  );
}

function valueCell(value) {
  if (value !== null && typeof value === "object") return el("pre", {}, JSON.stringify(value, null, 2));
  const text = String(value ?? "");
  // Secrets are references (${secret:name}), never values: say so rather than show a blank.
  return /^\$\{secret:[^}]+\}$/.test(text) ? el("span", { className: "secret", title: "a secret reference; the value is never shown" }, text) : text;
}

function keyValueTable(values) {
  return el("table", { className: "kv" }, Object.entries(values).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, valueCell(v)))));
}

function historyTable(requests) {
  return el("table", { className: "history" },
    el("tr", {}, ["Request", "What", "Status", "Submitted", "Ended"].map(h => el("th", {}, h))),
    requests.map(q => el("tr", { "data-request": q.request_id },
      el("td", {}, el("a", { href: `#/requests/${q.request_id}` }, q.request_id.slice(0, 8))),
      el("td", {}, q.operation || "provision"),
      el("td", { className: `status ${q.status}` }, q.status),
      el("td", {}, when(q.submitted_at)), el("td", {}, when(q.ended_at)))));
}

// An error answer of POST /resources/{id}/operations/{op}, as a person reads it.
function operationProblem(status, body, renderer) {
  const detail = typeof body?.detail === "string" ? body.detail : body?.detail?.message || "";
  if (status === 422) {
    if (body?.change_window) return detail;
    const errors = body?.errors || body?.detail?.errors || [];
    const general = renderer.showErrors(errors);
    return errors.length ? (general.length ? general.join("; ") : "Some fields need another value (see above).") : detail || "Refused (422).";
  }
  if (status === 409) {
    // Busy: running_request is the request acting on it; decommissioned: detail says so.
    const running = body?.running_request;
    return el("span", {}, `Not now: ${detail || "another request acts on this resource"}`,
      running ? el("span", {}, " ", el("a", { href: `#/requests/${running}`, className: "running-request" }, "Open the running request")) : null);
  }
  if (status === 404) return `Not found: ${detail || "the resource or this operation no longer exists"}. Reload the page.`;
  if (status === 403) return `Not allowed: ${detail || "you may not run this operation"}`;
  if (status === 429) return `Too many submissions: ${detail} Try again in ${body?.retry_after_s ?? "a few"} s.`;
  return detail || `HTTP ${status}`;
}

function operationForm(resource, operation) {
  const renderer = new FormRenderer(operation.form);
  const problems = el("div", { className: "error operation-problem" });
  const idempotencyKey = crypto.randomUUID();  // one per opened form: a double click is one request
  const decommission = operation.id === "decommission";
  const confirm = decommission ? el("input", { name: "confirm-name", autocomplete: "off", placeholder: resource.name }) : null;
  const submitButton = el("button", { type: "submit", disabled: decommission }, decommission ? "Decommission" : operation.title || operation.id);
  if (decommission) {
    submitButton.className = "danger";
    confirm.addEventListener("input", () => { submitButton.disabled = confirm.value !== resource.name; });
  }
  const submit = async (event) => {
    event.preventDefault();
    if (decommission && confirm.value !== resource.name) {
      problems.textContent = `Type ${resource.name} to confirm.`;
      return;
    }
    renderer.showErrors([]);
    problems.replaceChildren();
    submitButton.disabled = true;
    try {
      const { status, body } = await api(
        `/resources/${encodeURIComponent(resource.id)}/operations/${encodeURIComponent(operation.id)}`, {
          method: "POST", headers: { "Idempotency-Key": idempotencyKey },
          body: { inputs: renderer.values() }, answers: [403, 404, 409, 429],
        });
      if (status >= 200 && status < 300 && body?.id) { location.hash = `#/requests/${body.id}`; return; }
      problems.replaceChildren(operationProblem(status, body, renderer));
    } catch (error) {
      problems.textContent = String(error.message || error);
    } finally {
      submitButton.disabled = decommission && confirm.value !== resource.name;
    }
  };
  const fields = renderer.render();
  // novalidate: the gateway checks the inputs with the same schema and its 422 names each
  // field's problem under the field (the browser's own bubbles would name only the first).
  return el("form", { className: "card operation-form", "data-operation": operation.id, novalidate: true, onsubmit: (e) => submit(e) },
    el("h3", {}, operation.title || operation.id),
    operation.description ? el("p", {}, operation.description) : null,
    el("p", { className: "muted" }, `${operation.mode}${operation.approval_required ? " · needs approval" : ""}`
      + (operation.changes?.length ? ` · changes ${operation.changes.join(", ")}` : "")
      + changeClassNote(operation.form?.change_class)),
    fields,
    decommission ? el("div", { className: "confirm" },
      el("label", {}, `Type the resource's name, ${resource.name}, to confirm`,
        el("div", { className: "help" }, "Decommissioning removes what PAO provisioned; it cannot be undone.")),
      confirm) : null,
    problems,
    el("div", {}, submitButton,
      el("button", { type: "button", className: "secondary", onclick: () => { location.hash = resourceLink(resource.id); } }, "Close")));
}

async function resourcePage(resourceId, params) {
  const path = `/resources/${encodeURIComponent(resourceId)}`;
  const [{ body: r }, { body: ops }] = await Promise.all([api(path), api(`${path}/operations`)]);
  const opened = params.get("operation");
  const panel = el("div", { id: "operation-panel" });
  const open = (operation) => {
    panel.replaceChildren(operationForm(r, operation));
    panel.querySelector("input, select, textarea")?.focus();
  };
  const buttons = (ops.operations || []).map(o => el("button", {
    type: "button", "data-operation": o.id, className: o.id === "decommission" ? "danger" : null,
    onclick: () => { history.replaceState(null, "", `${resourceLink(r.id)}?operation=${encodeURIComponent(o.id)}`); open(o); },
  }, o.title || o.id));
  // Declared but not allowed now: disabled, with why (once, when it is why none may run).
  const unavailable = (ops.unavailable || []).map(u => el("div", { className: "muted", "data-unavailable": u.id },
    el("button", { type: "button", className: "secondary", disabled: true, title: u.reason }, u.title || u.id),
    u.reason === ops.reason ? null : ` ${u.reason}`));
  show(
    el("h1", {}, r.name),
    el("div", { className: "card resource-summary" },
      el("div", {}, "Status: ", el("span", { className: `status ${r.status}` }, r.status)),
      el("div", { className: "muted" }, `${r.item_id} v${r.item_version} · owned by ${r.owner_team || "?"} · requested by ${r.requester_id || "?"}`),
      el("div", { className: "muted" }, `created ${when(r.created_at)}`
        + (r.updated_at ? ` · changed ${when(r.updated_at)}` : "")
        + (r.decommissioned_at ? ` · decommissioned ${when(r.decommissioned_at)}` : "")),
      r.active_request ? el("div", {}, "Busy with: ",
        el("a", { href: `#/requests/${r.active_request.request_id}` }, r.active_request.operation || "provisioning")) : null,
      r.error ? el("div", { className: "error" }, `Last failure: ${r.error}`) : null),
    el("div", { className: "card operations" }, el("h3", {}, "Operations"),
      ops.reason ? el("p", { className: "muted" }, ops.reason) : null,
      buttons.length ? el("div", { className: "operation-buttons" }, buttons) : (ops.reason ? null : el("p", { className: "muted" }, "No operation you may run now.")),
      unavailable,
      ops.decommission_note ? el("p", { className: "access-note" }, ops.decommission_note) : null),
    panel,
    el("div", { className: "card" }, el("h3", {}, "Outputs"),
      Object.keys(r.outputs || {}).length ? keyValueTable(r.outputs) : el("p", { className: "muted" }, "None yet.")),
    el("div", { className: "card" }, el("h3", {}, "History"), historyTable(r.requests || [])),
    el("details", { className: "card" }, el("summary", {}, "Inputs"), keyValueTable(r.inputs || {})),
  );
  const wanted = (ops.operations || []).find(o => o.id === opened);
  if (wanted) open(wanted);
}

// --- routing ----------------------------------------------------------------------------

// Routes render one after another: two overlapping renders (a hash change while a page
// is still loading) would otherwise leave a form on screen that the next render replaces.
let routing = Promise.resolve();
function route() { routing = routing.then(render, render); return routing; }

async function render() {
  if (liveStream) { liveStream.abort(); liveStream = null; }
  document.getElementById("who").textContent = whoami();
  if (!token()) { signIn(); show(el("p", {}, "Sign in to browse the catalog.")); return; }
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const [, page, id] = path.split("/");
  const params = new URLSearchParams(query || "");
  try {
    if (page === "items" && id) await itemPage(decodeURIComponent(id));
    else if (page === "resources" && id) await resourcePage(decodeURIComponent(id), params);
    else if (page === "resources") await resourcesPage(params);
    else if (page === "requests" && id) await requestPage(decodeURIComponent(id));
    else if (page === "requests") await requestsPage();
    else if (page === "approvals") await approvalsPage();
    else if (page && page.startsWith("insights")) await insightsPage();
    else await catalogPage();
  } catch (error) { failure(error); }
}

window.addEventListener("hashchange", route);
route();
