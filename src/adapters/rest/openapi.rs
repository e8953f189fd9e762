//! `GET /openapi.json`: an OpenAPI 3.1 document of the API, built from the catalog: one
//! call path per capability the operator's policy allows, with its input schema as the
//! request body and its output schema in the answer.

use super::API_PREFIX;
use super::audit::MAX_PAGE;
use super::history::MAX_OPS;
use super::lane::Lane;
use crate::catalog::Capability;
use crate::powers::CapabilitySet;
use axum::Json;
use serde_json::{Map, Value, json};

/// A reference to a component schema.
fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A JSON answer with `schema`.
fn answer(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The error answers every endpoint can give, plus `extra` statuses.
fn responses(ok: Value, extra: &[(&str, &str)]) -> Value {
    let mut r = Map::new();
    r.insert("200".into(), ok);
    let mut errors = vec![
        (
            "400",
            "Bad input: malformed JSON, wrong types, unknown fields.",
        ),
        ("401", "No token, or one that is not valid."),
        (
            "403",
            "A foreign Host or Origin, refused by the policy, or by the caller's role (`denied_role`).",
        ),
        ("413", "The request body is too large."),
    ];
    errors.extend_from_slice(extra);
    for (status, why) in errors {
        r.insert(status.into(), answer(why, schema_ref("Error")));
    }
    Value::Object(r)
}

/// The endpoints that act the same in every lane (no `user` parameter).
const LANELESS: &[&str] = &["/events", "/confirmations", "/confirmations/{id}"];

/// Adds the `user` parameter (an admin's way into another user's lane) and its 404 to
/// every operation of a path item.
fn in_lanes(item: &mut Value) {
    let Some(ops) = item.as_object_mut() else {
        return;
    };
    for op in ops.values_mut() {
        let Some(op) = op.as_object_mut() else {
            continue;
        };
        let params = op.entry("parameters").or_insert_with(|| json!([]));
        if let Some(list) = params.as_array_mut() {
            list.push(query_param(
                "user",
                "Act in this user's lane instead of the caller's own (admins only; 403 `denied_role` for others).",
                json!({"type": "string"}),
            ));
        }
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            responses.entry("404").or_insert_with(|| {
                answer("No such user (or no such resource).", schema_ref("Error"))
            });
        }
    }
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn json_body(schema: Value) -> Value {
    json!({"required": false, "content": {"application/json": {"schema": schema}}})
}

/// The shared schemas: errors, operations, audit records, capabilities.
fn common_schemas() -> Map<String, Value> {
    let nullable_string = json!({"type": ["string", "null"]});
    let op = json!({
        "type": "object",
        "required": ["op", "time", "capability", "summary", "state"],
        "properties": {
            "op": {"type": "integer"},
            "time": {"type": "string"},
            "capability": {"type": "string"},
            "summary": {"type": "string"},
            "state": {"type": "string", "enum": ["pending", "running", "done", "undoing", "undone", "redoing", "interrupted", "irreversible", "expired", "damaged"]},
        },
    });
    let record = json!({
        "type": "object",
        "required": ["seq", "time", "user", "workspace", "capability", "params", "decision", "outcome", "duration_ms", "op", "prev_hash", "hash"],
        "properties": {
            "seq": {"type": "integer"},
            "time": {"type": "string"},
            "user": {"type": "string"},
            "workspace": {"type": "string"},
            "capability": {"type": "string"},
            "params": {},
            "decision": {"type": "string"},
            "outcome": {"type": "string"},
            "duration_ms": {"type": "integer"},
            "op": {"type": ["integer", "null"]},
            "prev_hash": {"type": "string"},
            "hash": {"type": "string"},
        },
    });
    let summary = json!({
        "type": "object",
        "required": ["id", "tool_name", "version", "title", "description", "side_effects", "requires_confirmation", "idempotent", "undo_strategy", "timeout_seconds", "annotations"],
        "properties": {
            "id": {"type": "string"},
            "tool_name": {"type": "string"},
            "version": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "side_effects": {"type": "array", "items": {"type": "string"}},
            "requires_confirmation": {"type": "boolean"},
            "confirmation_unless": nullable_string,
            "idempotent": {"type": "boolean"},
            "undo_strategy": {"type": "string"},
            "timeout_seconds": {"type": "integer"},
            "annotations": {"type": "object"},
        },
    });
    let detail = json!({
        "allOf": [schema_ref("CapabilitySummary")],
        "type": "object",
        "required": ["input_schema", "output_schema", "undo_targets", "sensitive_inputs"],
        "properties": {
            "input_schema": {"type": "object"},
            "output_schema": {"type": "object"},
            "undo_targets": {"type": "array", "items": {"type": "string"}},
            "sensitive_inputs": {"type": "array", "items": {"type": "string"}},
        },
    });
    let error_body = json!({
        "type": "object",
        "required": ["kind", "message"],
        "properties": {
            "kind": {"type": "string"},
            "message": {"type": "string"},
            "field": {"type": "string"},
            "hint": nullable_string,
        },
    });
    let error = json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": schema_ref("ErrorBody")},
    });
    let pending = json!({
        "type": "object",
        "required": ["id", "capability", "description", "params", "args_hash", "since", "expires_in_seconds"],
        "properties": {
            "id": {"type": "integer"},
            "capability": {"type": "string"},
            "description": {"type": "string"},
            "params": {"description": "The call's parameters, sensitive values hidden."},
            "args_hash": {"type": "string"},
            "since": {"type": "string"},
            "expires_in_seconds": {"type": "integer"},
            "call": {"type": "integer", "description": "The events-stream call id of the waiting call."},
        },
    });
    let event = json!({
        "type": "object",
        "required": ["id", "time", "kind", "call", "capability"],
        "properties": {
            "id": {"type": "integer"},
            "time": {"type": "string"},
            "kind": {"type": "string", "enum": ["requested", "confirmation_waiting", "progress", "finished", "denied", "failed", "undone", "redone", "missed"]},
            "call": {"type": "integer"},
            "capability": {"type": "string"},
            "op": {"type": ["integer", "null"]},
            "outcome": {"type": ["string", "null"]},
            "params": {},
            "detail": {},
        },
    });
    let mut s = Map::new();
    s.insert("Pending".into(), pending);
    s.insert("Event".into(), event);
    s.insert("ErrorBody".into(), error_body);
    s.insert("Error".into(), error);
    s.insert("Operation".into(), op);
    s.insert("AuditRecord".into(), record);
    s.insert("CapabilitySummary".into(), summary);
    s.insert("CapabilityDetail".into(), detail);
    s
}

/// The answer of a successful call of `cap`: the `airun execute --json` envelope.
fn call_envelope(cap: &Capability) -> Value {
    json!({
        "type": "object",
        "required": ["status", "capability", "result", "duration_ms"],
        "properties": {
            "status": {"const": "ok"},
            "capability": {"const": cap.id},
            "result": cap.output_schema_json(),
            "duration_ms": {"type": "integer"},
        },
    })
}

/// The answer of a failed call.
fn failed_call() -> Value {
    json!({
        "type": "object",
        "required": ["status", "capability", "error", "duration_ms"],
        "properties": {
            "status": {"const": "error"},
            "capability": {"type": "string"},
            "error": schema_ref("ErrorBody"),
            "duration_ms": {"type": "integer"},
        },
    })
}

/// The request body of a call: the capability's input schema, where an optional input
/// may also be `null` (the pipeline reads it as absent: the default applies).
fn request_schema(cap: &Capability) -> Value {
    let mut schema = cap.input_schema_json();
    let required: Vec<String> = schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, prop) in props.iter_mut() {
            if !required.contains(name) {
                let original = prop.take();
                *prop = json!({"anyOf": [original, {"type": "null"}]});
            }
        }
    }
    schema
}

fn call_path(cap: &Capability) -> Value {
    let mut r = Map::new();
    r.insert(
        "200".into(),
        answer("The call's result.", call_envelope(cap)),
    );
    for (status, why) in [
        ("400", "Invalid parameters (or malformed JSON)."),
        ("401", "The operator's token is missing or wrong."),
        (
            "403",
            "Refused by the operator's policy or the sandbox, or a foreign Host or Origin.",
        ),
        ("404", "A file or folder the call needs does not exist."),
        (
            "409",
            "The target exists and the call was told not to replace it.",
        ),
        ("413", "The request body is too large."),
        ("422", "The call needs confirmation and nobody approved it."),
        ("500", "The call could not do its work."),
        ("504", "The call ran past its time limit."),
    ] {
        // Refused before the call (token, Host/Origin, body size, malformed JSON): the
        // API's error; refused or failed by the pipeline: the execute envelope.
        let schema = json!({"anyOf": [failed_call(), schema_ref("Error")]});
        r.insert(status.into(), answer(why, schema));
    }
    json!({"post": {
        "operationId": format!("call_{}", cap.tool_name),
        "summary": cap.title,
        "description": cap.description,
        "tags": ["calls"],
        // An empty body is read as `{}`.
        "requestBody": {"required": false, "content": {"application/json": {"schema": request_schema(cap)}}},
        "responses": Value::Object(r),
    }})
}

/// The whole document for the capabilities `caps`.
pub fn document_for(caps: &[&Capability]) -> Value {
    let limit = |max: usize, default: usize| json!({"type": "integer", "minimum": 1, "maximum": max, "default": default});
    let audit_filters = vec![
        query_param(
            "cursor",
            "Start after this record number (the `next_cursor` of the page before).",
            json!({"type": "integer", "minimum": 0}),
        ),
        query_param(
            "capability",
            "Only this capability id.",
            json!({"type": "string"}),
        ),
        query_param(
            "decision",
            "Only this decision (allowed, approved_by_flag, denied_policy, ...).",
            json!({"type": "string"}),
        ),
        query_param(
            "since",
            "Only records at or after this time (RFC 3339).",
            json!({"type": "string", "format": "date-time"}),
        ),
        query_param(
            "until",
            "Only records before this time (RFC 3339).",
            json!({"type": "string", "format": "date-time"}),
        ),
    ];
    let mut page_params = vec![query_param(
        "limit",
        "Most records on the page.",
        limit(MAX_PAGE, 100),
    )];
    page_params.extend(audit_filters.iter().cloned());
    let ops_list = json!({"type": "array", "items": schema_ref("Operation")});
    let journal_answer = |key: &str| {
        json!({
            "type": "object",
            "required": [key, "undoable"],
            "properties": {key: ops_list.clone(), "undoable": {"type": "integer"}},
        })
    };
    let mut paths = Map::new();
    paths.insert("/capabilities".into(), json!({"get": {
        "operationId": "list_capabilities",
        "summary": "The capabilities the operator's policy allows.",
        "tags": ["catalog"],
        "responses": responses(answer("The capabilities.", json!({
            "type": "object", "required": ["capabilities"],
            "properties": {"capabilities": {"type": "array", "items": schema_ref("CapabilitySummary")}},
        })), &[]),
    }}));
    paths.insert("/capabilities/{id}".into(), json!({"get": {
        "operationId": "get_capability",
        "summary": "One capability with its schemas, contracts and annotations.",
        "tags": ["catalog"],
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Capability id or tool name."}],
        "responses": responses(answer("The capability.", schema_ref("CapabilityDetail")), &[("404", "No such capability.")]),
    }}));
    for cap in caps {
        paths.insert(format!("/capabilities/{}/calls", cap.id), call_path(cap));
    }
    paths.insert("/history".into(), json!({"get": {
        "operationId": "history",
        "summary": "The newest operations, newest first.",
        "tags": ["history"],
        "parameters": [query_param("limit", "Most operations to list.", limit(MAX_OPS, 50))],
        "responses": responses(answer("The operations.", json!({
            "type": "object", "required": ["operations"], "properties": {"operations": ops_list},
        })), &[]),
    }}));
    let side = json!({
        "type": "object", "required": ["kind", "size"],
        "properties": {
            "kind": {"type": "string", "enum": ["absent", "file", "dir", "symlink", "other"]},
            "size": {"type": "integer"},
        },
    });
    paths.insert("/operations/{op}".into(), json!({"get": {
        "operationId": "operation",
        "summary": "What one operation changed: paths, kinds, sizes and unified diffs of text files up to 1 MiB.",
        "tags": ["history"],
        "parameters": [{"name": "op", "in": "path", "required": true, "schema": {"type": "integer"}, "description": "Operation id."}],
        "responses": responses(answer("The operation and its changes.", json!({
            "allOf": [schema_ref("Operation")],
            "type": "object", "required": ["changes"],
            "properties": {"changes": {"type": "array", "items": {
                "type": "object", "required": ["path", "before", "after", "diff"],
                "properties": {
                    "path": {"type": "string"},
                    "before": side.clone(),
                    "after": {"oneOf": [side.clone(), {"type": "null"}]},
                    "diff": {"type": ["string", "null"]},
                },
            }}},
        })), &[("404", "No such operation.")]),
    }}));
    paths.insert("/undo".into(), json!({"post": {
        "operationId": "undo",
        "summary": "Undo the newest operations, or every one from `to` on.",
        "tags": ["history"],
        "requestBody": json_body(json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "steps": limit(MAX_OPS, 1),
                "to": {"type": ["integer", "null"], "description": "Undo every operation from this one on."},
                "force": {"type": "boolean", "default": false, "description": "Restore even where a file changed since."},
                "session": {"type": ["string", "null"], "description": "Undo every operation of this agent session not undone yet, newest first (`GET /history` shows each operation's session)."},
            },
        })),
        "responses": responses(answer("The operations undone.", journal_answer("undone")),
            &[("404", "No such operation or session."), ("409", "A file changed since the operation, or its saved copies are lost.")]),
    }}));
    paths.insert(
        "/redo".into(),
        json!({"post": {
            "operationId": "redo",
            "summary": "Redo the oldest undone operations.",
            "tags": ["history"],
            "requestBody": json_body(json!({
                "type": "object", "additionalProperties": false,
                "properties": {"steps": limit(MAX_OPS, 1)},
            })),
            "responses": responses(answer("The operations redone.", journal_answer("redone")),
                &[("409", "A file changed since the undo.")]),
        }}),
    );
    paths.insert(
        "/audit".into(),
        json!({"get": {
            "operationId": "audit",
            "summary": "One page of audit records, oldest first.",
            "tags": ["audit"],
            "parameters": page_params,
            "responses": responses(answer("The page.", json!({
                "type": "object", "required": ["records", "next_cursor"],
                "properties": {
                    "records": {"type": "array", "items": schema_ref("AuditRecord")},
                    "next_cursor": {"type": ["integer", "null"]},
                },
            })), &[]),
        }}),
    );
    paths.insert(
        "/audit/verify".into(),
        json!({"get": {
            "operationId": "audit_verify",
            "summary": "Whether the audit log's hash chain is intact.",
            "tags": ["audit"],
            "responses": responses(answer("The chain's state.", json!({
                "type": "object", "required": ["intact", "records", "problem"],
                "properties": {
                    "intact": {"type": "boolean"},
                    "records": {"type": ["integer", "null"]},
                    "problem": {"type": ["string", "null"]},
                },
            })), &[]),
        }}),
    );
    paths.insert(
        "/audit/export".into(),
        json!({"get": {
            "operationId": "audit_export",
            "summary": "Every matching audit record, one JSON object a line, oldest first.",
            "tags": ["audit"],
            "parameters": audit_filters,
            "responses": responses(json!({
                "description": "JSON lines.",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }), &[]),
        }}),
    );
    paths.insert(
        "/events".into(),
        json!({"get": {
            "operationId": "events",
            "summary": "Every call as it happens, as Server-Sent Events (an endless stream).",
            "description": "Each message has `id:` (the event id), `event:` (its kind: requested, confirmation_waiting, progress, finished, denied, failed, undone, redone, missed) and `data:` (the event as JSON, see the Event schema). Reconnect with `Last-Event-ID` (or `?after=`) to get the events missed while they are still kept; a `missed` event says how many are gone.",
            "tags": ["events"],
            "parameters": [
                query_param("after", "Resume after this event id (as `Last-Event-ID`).", json!({"type": "integer", "minimum": 0})),
                {"name": "Last-Event-ID", "in": "header", "required": false, "description": "Resume after this event id.", "schema": {"type": "string"}},
            ],
            "responses": responses(json!({
                "description": "The stream.",
                "content": {"text/event-stream": {"schema": {"type": "string"}, "x-event-data": schema_ref("Event")}},
            }), &[]),
        }}),
    );
    paths.insert(
        "/confirmations".into(),
        json!({"get": {
            "operationId": "confirmations",
            "summary": "The calls waiting for a person's yes, oldest first.",
            "tags": ["confirmations"],
            "responses": responses(answer("The waiting calls.", json!({"type": "array", "items": schema_ref("Pending")})), &[]),
        }}),
    );
    paths.insert(
        "/confirmations/{id}".into(),
        json!({"post": {
            "operationId": "decide_confirmation",
            "summary": "Approve or deny one waiting call, bound to its arguments by `args_hash`; a call is decided once.",
            "tags": ["confirmations"],
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}, "description": "The confirmation id `GET /confirmations` lists."}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["approve", "args_hash"],
                "properties": {
                    "approve": {"type": "boolean", "description": "True approves, false denies."},
                    "args_hash": {"type": "string", "description": "The `args_hash` `GET /confirmations` shows for the call."},
                },
            }}}},
            "responses": responses(answer("The decision.", json!({
                "type": "object", "required": ["id", "decision", "by"],
                "properties": {
                    "id": {"type": "integer"},
                    "decision": {"type": "string", "enum": ["approved", "denied"]},
                    "by": {"type": "string"},
                },
            })), &[("404", "No call waits under this id."), ("409", "Already decided, timed out, or the args_hash does not match.")]),
        }}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {
            "operationId": "openapi",
            "summary": "This document.",
            "tags": ["meta"],
            "responses": responses(answer("The OpenAPI document.", json!({"type": "object"})), &[]),
        }}),
    );
    // The console's reads: the effective policy, the agent sessions, the caller's session.
    paths.insert(
        "/policy".into(),
        json!({"get": {
            "operationId": "policy",
            "summary": "The effective operator settings (what `airun policy show --json` prints).",
            "tags": ["meta"],
            "responses": responses(answer("The settings.", json!({"type": "object"})), &[]),
        }}),
    );
    paths.insert(
        "/sessions".into(),
        json!({"get": {
            "operationId": "sessions",
            "summary": "The agent sessions with operations in history (transport, client name and version, counts), most recently active first.",
            "tags": ["history"],
            "responses": responses(answer("The sessions.", json!({
                "type": "object",
                "required": ["sessions"],
                "properties": {"sessions": {"type": "array", "items": {
                    "type": "object",
                    "required": ["session", "transport", "first", "last", "ops", "undoable"],
                    "properties": {
                        "session": {"type": "string"},
                        "transport": {"type": "string"},
                        "client_name": {"type": ["string", "null"]},
                        "client_version": {"type": ["string", "null"]},
                        "first": {"type": "string"},
                        "last": {"type": "string"},
                        "ops": {"type": "integer", "minimum": 0},
                        "undoable": {"type": "integer", "minimum": 0},
                    },
                }}},
            })), &[]),
        }}),
    );
    paths.insert(
        "/session".into(),
        json!({"get": {
            "operationId": "session",
            "summary": "How this request got in and who it is from; a browser session's CSRF token; whether the caller's lane is read-only.",
            "tags": ["meta"],
            "responses": responses(answer("The session.", json!({
                "type": "object",
                "required": ["via", "operator", "user", "role", "csrf_token", "expires_in_seconds", "read_only"],
                "properties": {
                    "via": {"type": "string", "enum": ["bearer", "cookie"]},
                    "operator": {"type": "string", "description": "Who the caller's decisions are recorded as."},
                    "user": {"type": "string", "description": "The caller: `operator` or a user's name."},
                    "role": {"type": "string", "enum": ["viewer", "agent", "admin"]},
                    "csrf_token": {"type": ["string", "null"]},
                    "expires_in_seconds": {"type": ["integer", "null"]},
                    "read_only": {"type": "boolean"},
                },
            })), &[]),
        }}),
    );
    for (path, item) in paths.iter_mut() {
        if !LANELESS.contains(&path.as_str()) {
            in_lanes(item);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "airun",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Watch, call and undo what the workspace's capabilities do. Every request needs a token as `Authorization: Bearer <token>` (the operator's, a user's, or an identity provider's access token), or the console's session cookie (from `POST /login`); a request with the cookie that changes anything also sends the session's CSRF token (`GET /api/v1/session`) in `X-CSRF-Token`. Each caller acts in their own lane (workspace, journal, audit log, policy); an admin names another user's with `?user=NAME`. Viewers may not call capabilities, undo or redo (403 `denied_role`).",
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "airun_session", "description": "The console's login session (HttpOnly, SameSite=Strict)."},
            },
            "schemas": Value::Object(common_schemas()),
        },
    })
}

/// `GET /openapi.json`.
pub async fn document<S: CapabilitySet>(Lane { api, .. }: Lane<S>) -> Json<Value> {
    Json(document_for(&api.pipeline().capabilities()))
}
