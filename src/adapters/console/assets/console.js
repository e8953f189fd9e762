// airun console: the operator's view of /api/v1. Plain script, no library.
// Every element is built with createElement/textContent: data never becomes markup.
"use strict";

const API = "/api/v1";
// `canAct`: the user may call capabilities and undo (agents and admins, on a server
// that is not read-only); `admin`: they see every user's lane, so rows name their user.
// `lane`: the user whose lane an admin looks at (history, audit, calls); "" for their own.
const state = { csrf: null, readOnly: true, canAct: false, admin: false, user: "", role: "",
  lane: "", auditCursor: null, auditFilters: {}, selected: null };
// The endpoints that act in a lane (an admin names another with ?user=).
const LANE_PATHS = ["/history", "/operations/", "/undo", "/redo", "/audit", "/sessions",
  "/policy", "/capabilities"];
const EVENT_KINDS = ["requested", "confirmation_waiting", "progress", "finished", "denied",
  "failed", "undone", "redone", "missed"];
const FEED_MAX = 300;

// ---- small helpers ----

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = String(v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k.startsWith("data-")) e.setAttribute(k, String(v));
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function $(sel) { return document.querySelector(sel); }

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

// A button that changes something: not made at all in read-only mode or for a viewer.
function mutButton(label, onclick, cls) {
  if (!state.canAct) return null;
  return el("button", { type: "button", class: "mut " + (cls || ""), onclick, text: label });
}

function lanePath(path) {
  if (!state.lane || !LANE_PATHS.some((p) => path.startsWith(p))) return path;
  return path + (path.includes("?") ? "&" : "?") + "user=" + encodeURIComponent(state.lane);
}

// A user name seen in the feed or the confirmations, offered in the admin's lane picker.
function knownUser(name) {
  const list = $("#lanes");
  if (!state.admin || !name || !list) return;
  if (![...list.options].some((o) => o.value === name)) list.append(el("option", { value: name }));
}

// To the login page, once: a logout and a request answered 401 meanwhile would otherwise
// start two navigations, the second cancelling the first.
let leaving = false;
function toLogin() {
  if (leaving) return;
  leaving = true;
  location.assign("/login");
}

async function api(method, path, body) {
  path = lanePath(path);
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET" && state.csrf) opts.headers["X-CSRF-Token"] = state.csrf;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(API + path, opts);
  if (r.status === 401) {
    // The page is leaving for the login page: the caller's work ends here, unanswered
    // rather than failed (an error would be reported as the page's own).
    toLogin();
    return new Promise(() => {});
  }
  let data = null;
  try { data = await r.json(); } catch (_) { data = null; }
  return { status: r.status, ok: r.ok, data };
}

function errorOf(res) {
  const e = (res.data && res.data.error) || {};
  return { kind: e.kind || String(res.status), message: e.message || "the request failed (" + res.status + ")", hint: e.hint };
}

// Shows `res` (an api() answer) in `box`: what happened, or what was wrong and what to do.
function showResult(box, res, okText) {
  clear(box).hidden = false;
  if (res.ok) {
    box.className = "result";
    box.append(el("div", { text: okText }));
  } else {
    const e = errorOf(res);
    box.className = "result error";
    box.append(el("div", { class: "message", text: e.kind + ": " + e.message }));
    if (e.hint) box.append(el("div", { class: "hint", text: e.hint }));
  }
}

function notice(text, error) {
  const n = $("#notice");
  n.textContent = text;
  n.className = error ? "notice error" : "notice";
  n.hidden = !text;
}

function shortJson(v, max) {
  let s = v === undefined ? "" : JSON.stringify(v);
  max = max || 160;
  return s && s.length > max ? s.slice(0, max - 1) + "…" : s || "";
}

function localTime(t) {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

// ---- tabs ----

const loaders = {};

function showTab(name) {
  if (!document.querySelector('[data-page="' + name + '"]')) name = "live";
  for (const p of document.querySelectorAll(".page")) p.hidden = p.dataset.page !== name;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.tab === name);
  if (loaders[name]) loaders[name]();
}

// ---- live feed ----

// Who made a call, as a cell of its own (admins only: others see only their own).
function userCell(name) {
  return state.admin ? el("span", { class: "user mono", text: name || "operator" }) : null;
}

function feedItem(kind, data) {
  knownUser(data.principal);
  const what = [];
  if (data.op) what.push("op " + data.op);
  if (data.outcome && data.outcome !== "ok") what.push(data.outcome);
  if (data.detail && data.detail.decision) what.push(data.detail.decision);
  if (data.detail && data.detail.message) what.push(data.detail.message);
  if (data.params && typeof data.params === "object") what.push(shortJson(data.params, 200));
  return el("li", { class: "event", "data-kind": kind, "data-capability": data.capability || "",
    "data-user": data.principal || "" },
    el("span", { class: "time mono", text: new Date(data.time || Date.now()).toLocaleTimeString() }),
    userCell(data.principal),
    el("span", { class: "kind kind-" + kind, text: kind.replace("_", " ") }),
    el("span", { class: "cap mono", text: data.capability || "" }),
    el("span", { class: "what mono", text: what.join("  ") }));
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    loadPending();
    if (!$("#page-history").hidden) loadHistory();
  }, 250);
}

function connectEvents() {
  const es = new EventSource(API + "/events");
  const badge = $("#stream-state");
  es.onopen = () => { badge.textContent = "live"; badge.className = "badge live"; };
  es.onerror = () => { badge.textContent = "reconnecting"; badge.className = "badge down"; };
  for (const kind of EVENT_KINDS) {
    es.addEventListener(kind, (m) => {
      let data = {};
      try { data = JSON.parse(m.data); } catch (_) { return; }
      const feed = $("#feed");
      feed.prepend(feedItem(kind, data));
      while (feed.children.length > FEED_MAX) feed.lastChild.remove();
      if (kind !== "requested" && kind !== "progress") refreshSoon();
    });
  }
}

// ---- history ----

function diffView(text) {
  const pre = el("pre", { class: "diff" });
  for (const line of text.split("\n")) {
    let cls = "";
    if (line.startsWith("+++") || line.startsWith("---")) cls = "file";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    else if (line.startsWith("@@")) cls = "hunk";
    pre.append(el("span", { class: cls, text: line }));
  }
  return pre;
}

async function showOperation(op) {
  const box = $("#op-detail");
  clear(box).hidden = false;
  const res = await api("GET", "/operations/" + op);
  if (!res.ok) { showResult(box, res, ""); return; }
  const d = res.data;
  box.append(el("h3", { text: "Operation " + d.op + ": " + d.summary }),
    el("p", { class: "help", text: d.capability + " · " + localTime(d.time) + " · " + d.state +
      (d.session ? " · session " + d.session : "") }));
  if (!d.changes || d.changes.length === 0) box.append(el("p", { class: "empty", text: "No file changes recorded." }));
  for (const c of d.changes || []) {
    const after = c.after ? c.after.kind + " " + c.after.size + " B" : "not recorded";
    box.append(el("div", { class: "change" },
      el("strong", { class: "mono", text: c.path }),
      el("span", { class: "state", text: "  " + c.before.kind + " " + c.before.size + " B → " + after })));
    if (c.diff) box.append(diffView(c.diff));
    else box.append(el("p", { class: "empty", text: "No text diff (binary, too large, or its saved copy is gone)." }));
  }
}

// Undo with the drift guard: a refusal because files changed since is shown with an
// explicit second step that forces.
async function undo(body, what) {
  const box = $("#history-result");
  const res = await api("POST", "/undo", body);
  if (res.ok) {
    const ops = (res.data.undone || []).map((o) => o.op);
    showResult(box, res, "Undid " + what + " (operations " + ops.join(", ") + ").");
  } else {
    showResult(box, res, "");
    if (res.status === 409 && !body.force) {
      box.append(el("p", { text: "The files changed since this operation. Forcing restores them anyway and loses those later changes." }),
        mutButton("Force undo of " + what, () => undo(Object.assign({}, body, { force: true }), what), "force"));
    }
  }
  loadHistory();
}

function opRow(o, newestUndoable) {
  const actions = el("span", { class: "actions" },
    el("button", { type: "button", class: "diff-button", onclick: () => showOperation(o.op), text: "Diff" }));
  if (o.state === "done") {
    actions.append(o.op === newestUndoable
      ? mutButton("Undo", () => undo({ steps: 1 }, "operation " + o.op), "undo")
      : mutButton("Undo from here", () => undo({ to: o.op }, "operation " + o.op + " and every later one"), "undo-to"));
  }
  const who = o.principal || o.user;
  return el("li", { class: "op state-" + o.state, "data-op": o.op, "data-session": o.session || "",
    "data-user": who || "" },
    el("span", { class: "mono", text: "#" + o.op }),
    el("span", { class: "state", text: localTime(o.time) }),
    el("span", {}, state.admin ? el("span", { class: "user mono", text: (who || "operator") + "  " }) : null,
      el("span", { class: "mono", text: o.capability + "  " }), el("span", { class: "summary", text: o.summary })),
    el("span", { class: "state", text: o.state }),
    actions);
}

async function loadHistory() {
  const [res, known] = await Promise.all([api("GET", "/history?limit=200"), api("GET", "/sessions")]);
  const root = clear($("#history"));
  if (!res.ok) { showResult($("#history-result"), res, ""); return; }
  const clients = new Map();
  for (const s of (known.ok && known.data.sessions) || []) {
    const client = [s.client_name, s.client_version].filter(Boolean).join(" ");
    clients.set(s.session, (client ? client + " · " : "") + s.transport);
  }
  const ops = res.data.operations || [];
  if (ops.length === 0) { root.append(el("p", { class: "empty", text: "Nothing has changed the workspace yet." })); return; }
  const newestUndoable = (ops.find((o) => o.state === "done") || {}).op;
  // Group by session, keeping the order of each session's newest operation.
  const groups = new Map();
  for (const o of ops) {
    const key = o.session || "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(o);
  }
  for (const [session, list] of groups) {
    const undoable = list.filter((o) => o.state === "done").length;
    const head = el("header", {},
      el("span", {}, el("strong", { class: "client", text: session ? (clients.get(session) || "session") : "Without a session (CLI or older records)" }),
        session ? el("span", { class: "state mono", text: "  " + session }) : null,
        el("span", { class: "state", text: "  " + list.length + " operations, " + undoable + " undoable" })));
    if (session && undoable > 0) {
      head.append(mutButton("Undo this task", () => undo({ session, steps: 1 }, "session " + session), "danger undo-session"));
    }
    root.append(el("section", { class: "session", "data-session": session }, head,
      el("ul", { class: "ops" }, list.map((o) => opRow(o, newestUndoable)))));
  }
}

// ---- confirmations ----

async function decide(p, approve) {
  const res = await api("POST", "/confirmations/" + p.id, { approve, args_hash: p.args_hash });
  if (res.ok) notice((approve ? "Approved " : "Denied ") + p.capability + " (confirmation " + p.id + ").");
  else notice(errorOf(res).message, true);
  loadPending();
}

async function loadPending() {
  const res = await api("GET", "/confirmations");
  const root = clear($("#confirmations"));
  const list = res.ok ? res.data : [];
  $("#pending-count").textContent = list.length ? String(list.length) : "";
  if (!res.ok) { root.append(el("p", { class: "empty", text: errorOf(res).message })); return; }
  if (list.length === 0) { root.append(el("p", { class: "empty", text: "No call is waiting." })); return; }
  for (const p of list) {
    knownUser(p.principal);
    root.append(el("div", { class: "pending", "data-id": p.id, "data-capability": p.capability,
      "data-user": p.principal || "" },
      el("div", {}, el("strong", { class: "mono", text: p.capability }),
        state.admin ? el("span", { class: "user mono", text: "  by " + (p.principal || "operator") }) : null,
        el("span", { class: "state", text: "  waiting since " + localTime(p.since) + ", declined in " + p.expires_in_seconds + " s" })),
      el("div", { class: "desc", text: p.description }),
      el("pre", { class: "mono", text: JSON.stringify(p.params, null, 2) }),
      el("div", { class: "state mono", text: "arguments hash " + p.args_hash }),
      el("div", { class: "toolbar" },
        mutButton("Approve", () => decide(p, true), "primary approve"),
        mutButton("Deny", () => decide(p, false), "danger deny"))));
  }
}

// ---- audit ----

async function loadAudit(cursor) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state.auditFilters)) if (v) q.set(k, v);
  if (cursor) q.set("cursor", cursor);
  const [page, chain] = await Promise.all([api("GET", "/audit?" + q), api("GET", "/audit/verify")]);
  const c = $("#chain");
  if (chain.ok && chain.data.intact) {
    c.className = "chain ok";
    c.textContent = "Hash chain intact: " + chain.data.records + " records verified.";
  } else {
    c.className = "chain broken";
    c.textContent = "Hash chain broken: " + ((chain.data && chain.data.problem) || errorOf(chain).message);
  }
  const body = clear($("#audit tbody"));
  if (!page.ok) {
    body.append(el("tr", {}, el("td", { colspan: 8, text: errorOf(page).message + " " + (errorOf(page).hint || "") })));
    return;
  }
  for (const r of page.data.records || []) {
    body.append(el("tr", { "data-seq": r.seq },
      el("td", { text: r.seq }), el("td", { text: localTime(r.time) }),
      el("td", { class: "mono", text: r.capability }), el("td", { text: r.decision }),
      el("td", { text: r.outcome }), el("td", { text: r.duration_ms }), el("td", { text: r.op || "" }),
      el("td", { class: "params mono", text: shortJson(r.params, 300) })));
  }
  if (!body.firstChild) body.append(el("tr", {}, el("td", { colspan: 8, class: "empty", text: "No records match." })));
  state.auditCursor = page.data.next_cursor;
  $("#audit-next").disabled = !state.auditCursor;
}

// ---- catalog and the call form ----

function mainType(schema) {
  let t = schema.type;
  if (Array.isArray(t)) t = t.find((x) => x !== "null") || t[0];
  return t || (schema.enum ? "string" : "json");
}

function fieldFor(name, schema, required) {
  const t = mainType(schema);
  const id = "f-" + name;
  let input;
  if (Array.isArray(schema.enum)) {
    input = el("select", { id, name });
    if (!required) input.append(el("option", { value: "", text: "(default)" }));
    for (const v of schema.enum) input.append(el("option", { value: JSON.stringify(v), text: String(v) }));
  } else if (t === "boolean") {
    input = el("select", { id, name },
      el("option", { value: "", text: "(default)" }), el("option", { value: "true", text: "true" }),
      el("option", { value: "false", text: "false" }));
  } else if (t === "integer" || t === "number") {
    input = el("input", { id, name, type: "number", step: t === "integer" ? "1" : "any" });
  } else if (t === "string") {
    input = name === "content" || name === "text" || (schema.maxLength || 0) > 4096
      ? el("textarea", { id, name }) : el("input", { id, name, type: "text" });
  } else {
    input = el("textarea", { id, name, placeholder: "JSON, e.g. " + (t === "array" ? '["a", "b"]' : '{"key": "value"}') });
  }
  input.dataset.kind = Array.isArray(schema.enum) ? "enum" : t;
  return el("div", { class: "field" },
    el("label", { for: id, text: name + (required ? " *" : "") + "  (" + (Array.isArray(schema.enum) ? "one of" : t) + ")" }),
    input,
    schema.description ? el("div", { class: "desc", text: schema.description }) : null);
}

function readForm(form, props, required) {
  const params = {};
  for (const name of Object.keys(props)) {
    const input = form.elements.namedItem(name);
    if (!input) continue;
    const raw = input.value;
    if (raw === "") {
      if (required.includes(name) && input.dataset.kind === "string") params[name] = "";
      continue;
    }
    switch (input.dataset.kind) {
      case "enum": params[name] = JSON.parse(raw); break;
      case "boolean": params[name] = raw === "true"; break;
      case "integer": case "number": params[name] = Number(raw); break;
      case "string": params[name] = raw; break;
      default:
        try { params[name] = JSON.parse(raw); } catch (e) { throw new Error(name + " is not valid JSON: " + e.message); }
    }
  }
  return params;
}

async function showCapability(id) {
  state.selected = id;
  for (const b of document.querySelectorAll("#catalog button")) b.classList.toggle("active", b.dataset.id === id);
  const box = clear($("#cap-detail"));
  const res = await api("GET", "/capabilities/" + encodeURIComponent(id));
  if (!res.ok) { box.append(el("p", { text: errorOf(res).message })); return; }
  const c = res.data;
  const schema = c.input_schema || {};
  const props = schema.properties || {};
  const required = schema.required || [];
  const hasDryRun = "dry_run" in props;
  box.append(el("h3", { class: "mono", text: c.id }), el("p", { text: c.description }),
    el("p", { class: "tags" }, (c.side_effects || []).map((s) => el("span", { text: s })),
      c.requires_confirmation ? el("span", { text: "needs a yes" }) : null,
      el("span", { text: "undo: " + c.undo_strategy })));
  const form = el("form", { class: "capform", id: "call-form" });
  for (const [name, s] of Object.entries(props)) {
    if (name === "dry_run") continue;
    form.append(fieldFor(name, s, required.includes(name)));
  }
  const out = el("div", { class: "result", id: "call-result", hidden: true });
  const run = async (dryRun) => {
    let params;
    try { params = readForm(form, props, required); } catch (e) { clear(out).hidden = false; out.className = "result error"; out.append(el("div", { text: e.message })); return; }
    if (dryRun) params.dry_run = true;
    const r = await api("POST", "/capabilities/" + encodeURIComponent(c.id) + "/calls", params);
    showResult(out, r, (dryRun ? "Dry run" : "Call") + " answered " + r.status + ":");
    const diff = r.data && r.data.result && r.data.result.diff;
    if (typeof diff === "string" && diff) out.append(diffView(diff));
    out.append(el("pre", { class: "mono", text: JSON.stringify(r.data, null, 2) }));
  };
  const mutating = (c.side_effects || []).some((s) => !["read_only", "filesystem_read", "system_read", "network_read"].includes(s));
  // A viewer calls nothing; a read-only server runs only what changes nothing.
  const calls = state.role !== "viewer";
  const buttons = el("div", { class: "toolbar" },
    mutating ? mutButton("Run", () => run(false), "primary run") :
      calls ? el("button", { type: "button", class: "primary run", onclick: () => run(false), text: "Run" }) : null,
    hasDryRun && calls ? el("button", { type: "button", class: "dry-run", onclick: () => run(true), text: "Dry run" }) : null);
  form.addEventListener("submit", (e) => { e.preventDefault(); });
  box.append(form, buttons, out);
}

async function loadCatalog() {
  const res = await api("GET", "/capabilities");
  const list = clear($("#catalog"));
  if (!res.ok) { list.append(el("li", { text: errorOf(res).message })); return; }
  for (const c of res.data.capabilities || []) {
    list.append(el("li", {}, el("button", { type: "button", "data-id": c.id, title: c.description,
      onclick: () => showCapability(c.id), text: c.id })));
  }
  if (state.selected) showCapability(state.selected);
}

// ---- policy ----

async function loadPolicy() {
  const res = await api("GET", "/policy");
  const body = clear($("#policy tbody"));
  if (!res.ok) { body.append(el("tr", {}, el("td", { text: errorOf(res).message }))); return; }
  const rows = (prefix, obj) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v && typeof v === "object" && !Array.isArray(v)) rows(prefix + k + ".", v);
      else body.append(el("tr", {}, el("th", { class: "mono", text: prefix + k }),
        el("td", { class: "mono", text: JSON.stringify(v) })));
    }
  };
  rows("", res.data);
}

// ---- start ----

async function start() {
  const who = await api("GET", "/session");
  if (!who.ok) { notice(errorOf(who).message, true); return; }
  state.csrf = who.data.csrf_token;
  state.readOnly = !!who.data.read_only;
  // A server without users names only the operator, an admin.
  state.user = who.data.user || who.data.operator || "operator";
  state.role = who.data.role || "admin";
  state.admin = state.role === "admin";
  state.canAct = !state.readOnly && state.role !== "viewer";
  $("#operator").textContent = who.data.operator && who.data.operator !== state.user
    ? state.user + " (" + who.data.operator + ")" : state.user;
  const role = $("#role");
  role.textContent = state.role;
  role.className = "badge role-" + state.role;
  $("#feed").classList.toggle("with-user", state.admin);
  // An admin may look at (and act in) any user's lane.
  $("#lane-picker").hidden = !state.admin;
  $("#lane").addEventListener("change", (e) => {
    state.lane = e.target.value.trim();
    state.auditCursor = null;
    $("#op-detail").hidden = true;
    showTab(location.hash.slice(1) || "live");
  });
  const mode = $("#mode");
  mode.textContent = state.readOnly ? "read-only" : state.canAct ? "read-write" : "view only";
  mode.className = state.canAct ? "badge" : "badge ro";
  if (!state.canAct) for (const b of document.querySelectorAll(".mut")) b.remove();

  loaders.history = loadHistory;
  loaders.confirmations = loadPending;
  loaders.audit = () => loadAudit(null);
  loaders.catalog = loadCatalog;
  loaders.policy = loadPolicy;

  $("#history-refresh").addEventListener("click", loadHistory);
  const redo = $("#redo");
  if (redo) redo.addEventListener("click", async () => {
    const res = await api("POST", "/redo", { steps: 1 });
    showResult($("#history-result"), res, "Redid " + ((res.data && res.data.redone) || []).map((o) => "operation " + o.op).join(", ") + ".");
    loadHistory();
  });
  $("#audit-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    state.auditFilters = Object.fromEntries(new FormData(e.target).entries());
    loadAudit(null);
  });
  $("#audit-first").addEventListener("click", () => loadAudit(null));
  $("#audit-next").addEventListener("click", () => { if (state.auditCursor) loadAudit(state.auditCursor); });
  $("#logout").addEventListener("click", async () => {
    await fetch("/logout", { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": state.csrf || "" } }).catch(() => null);
    toLogin();
  });
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
  connectEvents();
  loadPending();
  // The seconds left on waiting calls, and calls that timed out.
  setInterval(() => { if (!$("#page-confirmations").hidden) loadPending(); }, 5000);
  showTab(location.hash.slice(1) || "live");
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
