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
    ...options, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (response.status === 401) { signIn(); throw new Error("sign in first"); }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok && response.status !== 422) {
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
    const decide = (verb) => async () => {
      await api(`/requests/${encodeURIComponent(r.id)}/${verb}`, { method: "POST", body: { comment: comment.value || null } });
      await approvalsPage();
    };
    return el("tr", {},
      el("td", {}, el("a", { href: `#/requests/${r.id}` }, r.id.slice(0, 8))),
      el("td", {}, `${r.item_id} v${r.item_version || "?"}`),
      el("td", {}, r.requester?.id || ""),
      el("td", {}, `${entry.stage_number}/${entry.stage_count}${stage.name ? " " + stage.name : ""} (${stage.rule || "any"})`),
      el("td", {}, stage.expires_at ? new Date(stage.expires_at).toLocaleString() : ""),
      el("td", {}, comment,
        el("button", { onclick: () => decide("approve")().catch(failure) }, "Approve"),
        el("button", { className: "secondary", onclick: () => decide("reject")().catch(failure) }, "Reject")));
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

// --- routing ----------------------------------------------------------------------------

// Routes render one after another: two overlapping renders (a hash change while a page
// is still loading) would otherwise leave a form on screen that the next render replaces.
let routing = Promise.resolve();
function route() { routing = routing.then(render, render); return routing; }

async function render() {
  if (liveStream) { liveStream.abort(); liveStream = null; }
  document.getElementById("who").textContent = whoami();
  if (!token()) { signIn(); show(el("p", {}, "Sign in to browse the catalog.")); return; }
  const [, page, id] = location.hash.replace(/^#/, "").split("/");
  try {
    if (page === "items" && id) await itemPage(decodeURIComponent(id));
    else if (page === "requests" && id) await requestPage(decodeURIComponent(id));
    else if (page === "requests") await requestsPage();
    else if (page === "approvals") await approvalsPage();
    else if (page && page.startsWith("insights")) await insightsPage();
    else await catalogPage();
  } catch (error) { failure(error); }
}

window.addEventListener("hashchange", route);
route();
