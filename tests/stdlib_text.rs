//! `text.regex.match` and `text.template.render`, driven through the pipeline.

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::{CapError, ErrorKind};
use serde_json::{Value, json};
use std::sync::atomic::AtomicBool;

/// Runs one call through a fresh pipeline on an empty temporary workspace.
fn call_with(name: &str, args: Value, options: CallOptions<'_>) -> Result<Value, CapError> {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path(), false, None).unwrap();
    let k = Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default());
    k.execute(name, args, &FlagConfirmer, options)
}

fn call(name: &str, args: Value) -> Result<Value, CapError> {
    call_with(name, args, CallOptions::default())
}

fn render(template: &str, variables: Value) -> Result<String, CapError> {
    call(
        "text.template.render",
        json!({"template": template, "variables": variables}),
    )
    .map(|out| out["rendered"].as_str().unwrap().to_string())
}

// ---- text.regex.match ----

#[test]
fn regex_matches_with_groups_and_offsets() {
    let out = call(
        "text.regex.match",
        json!({"text": "a1 b2 c", "pattern": r"(?P<letter>[a-z])(\d)?"}),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({
            "matches": [
                {"match": "a1", "start": 0, "end": 2, "groups": ["a", "1"], "named": {"letter": "a"}},
                {"match": "b2", "start": 3, "end": 5, "groups": ["b", "2"], "named": {"letter": "b"}},
                {"match": "c", "start": 6, "end": 7, "groups": ["c", null], "named": {"letter": "c"}},
            ],
            "truncated": false
        })
    );
}

#[test]
fn regex_named_group_that_does_not_take_part_is_null() {
    let out = call(
        "text.regex.match",
        json!({"text": "key=", "pattern": r"(?P<k>\w+)=(?P<v>\w+)?"}),
    )
    .unwrap();
    let m = &out["matches"][0];
    assert_eq!(m["named"], json!({"k": "key", "v": null}));
    assert_eq!(m["groups"], json!(["key", null]));
}

#[test]
fn regex_offsets_are_bytes() {
    let out = call(
        "text.regex.match",
        json!({"text": "héllo wörld", "pattern": "w.r"}),
    )
    .unwrap();
    let m = &out["matches"][0];
    assert_eq!(m["match"], "wör");
    assert_eq!(m["start"], 7);
    assert_eq!(m["end"], 11);
}

#[test]
fn regex_no_match_is_empty() {
    let out = call("text.regex.match", json!({"text": "abc", "pattern": r"\d"})).unwrap();
    assert_eq!(out, json!({"matches": [], "truncated": false}));
}

#[test]
fn regex_flags() {
    let count = |pattern: &str, text: &str, flags: Value| {
        call(
            "text.regex.match",
            json!({"text": text, "pattern": pattern, "flags": flags}),
        )
        .unwrap()["matches"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("abc", "ABC abc", json!([])), 1);
    assert_eq!(count("abc", "ABC abc", json!(["ignorecase"])), 2);
    assert_eq!(count("^x$", "x\nx", json!([])), 0);
    assert_eq!(count("^x$", "x\nx", json!(["multiline"])), 2);
    assert_eq!(count("a.b", "a\nb", json!([])), 0);
    assert_eq!(count("a.b", "a\nb", json!(["dotall"])), 1);
    assert_eq!(count("^A.B$", "a\nb", json!(["dotall", "ignorecase"])), 1);
}

#[test]
fn regex_unknown_flag_is_invalid_input() {
    let err = call(
        "text.regex.match",
        json!({"text": "a", "pattern": "a", "flags": ["verbose"]}),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(
        err.field.as_deref().unwrap_or("").starts_with("flags"),
        "{err:?}"
    );
}

#[test]
fn regex_global_false_gives_the_first_match() {
    let out = call(
        "text.regex.match",
        json!({"text": "a1 b2 c3", "pattern": r"\d", "global": false}),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"matches": [{"match": "1", "start": 1, "end": 2, "groups": [], "named": {}}], "truncated": false})
    );
}

#[test]
fn regex_max_matches_truncates() {
    let out = call(
        "text.regex.match",
        json!({"text": "aaaaa", "pattern": "a", "max_matches": 3}),
    )
    .unwrap();
    assert_eq!(out["matches"].as_array().unwrap().len(), 3);
    assert_eq!(out["truncated"], true);
    assert_eq!(out["matches"][2]["start"], 2);

    // Exactly as many matches as allowed: not truncated.
    let out = call(
        "text.regex.match",
        json!({"text": "aaa", "pattern": "a", "max_matches": 3}),
    )
    .unwrap();
    assert_eq!(out["matches"].as_array().unwrap().len(), 3);
    assert_eq!(out["truncated"], false);
}

#[test]
fn regex_many_matches() {
    let text = "x".repeat(5000);
    let out = call(
        "text.regex.match",
        json!({"text": text, "pattern": "x", "max_matches": 100000}),
    )
    .unwrap();
    assert_eq!(out["matches"].as_array().unwrap().len(), 5000);
    assert_eq!(out["truncated"], false);
}

#[test]
fn regex_max_matches_out_of_range_is_invalid_input() {
    let err = call(
        "text.regex.match",
        json!({"text": "a", "pattern": "a", "max_matches": 0}),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("max_matches"));
}

#[test]
fn regex_empty_matches_advance() {
    let out = call("text.regex.match", json!({"text": "ab", "pattern": "x*"})).unwrap();
    let starts: Vec<i64> = out["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["start"].as_i64().unwrap())
        .collect();
    assert_eq!(starts, [0, 1, 2]);
}

#[test]
fn regex_invalid_pattern_is_invalid_input() {
    let err = call("text.regex.match", json!({"text": "a", "pattern": "(a"})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("pattern"));
    assert!(err.message.contains("unclosed group"), "{}", err.message);
    assert!(err.hint.is_some());

    // Look-around is not supported by the engine.
    let err = call("text.regex.match", json!({"text": "a", "pattern": "(?=a)"})).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("pattern"));
}

#[test]
fn regex_huge_pattern_fails_cleanly() {
    let err = call(
        "text.regex.match",
        json!({"text": "a", "pattern": r"\w{1000}{1000}"}),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("pattern"));
    assert!(err.message.contains("too large"), "{}", err.message);
}

#[test]
fn regex_pattern_longer_than_spec_limit_is_invalid_input() {
    let err = call(
        "text.regex.match",
        json!({"text": "a", "pattern": "a".repeat(10_001)}),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("pattern"));
}

#[test]
fn regex_by_tool_name() {
    let out = call("text_regex_match", json!({"text": "ab", "pattern": "b"})).unwrap();
    assert_eq!(out["matches"][0]["start"], 1);
}

// ---- text.template.render ----

#[test]
fn template_variables_and_filters() {
    assert_eq!(
        render("Hello {{ name }}!", json!({"name": "World"})).unwrap(),
        "Hello World!"
    );
    assert_eq!(
        render(
            "{{ name | upper }} {{ n + 1 }} {{ user.email }}",
            json!({"name": "bo", "n": 41, "user": {"email": "a@b.c"}})
        )
        .unwrap(),
        "BO 42 a@b.c"
    );
    assert_eq!(render("plain text", json!({})).unwrap(), "plain text");
}

#[test]
fn template_without_variables_uses_default() {
    let out = call("text.template.render", json!({"template": "{{ 1 + 2 }}"})).unwrap();
    assert_eq!(out, json!({"rendered": "3"}));
}

#[test]
fn template_loops_and_conditions() {
    let t = "{% for item in items %}{% if not loop.first %}, {% endif %}{{ loop.index }}:{{ item }}{% endfor %}";
    assert_eq!(
        render(t, json!({"items": ["a", "b", "c"]})).unwrap(),
        "1:a, 2:b, 3:c"
    );
    let t = "{% for i in range(3) %}{{ i }}{% endfor %}|{% for i in range(5, 0, -2) %}{{ i }}{% endfor %}";
    assert_eq!(render(t, json!({})).unwrap(), "012|531");
    let t = "{% set total = xs | sum %}{{ total }}";
    assert_eq!(render(t, json!({"xs": [1, 2, 3]})).unwrap(), "6");
}

#[test]
fn template_keeps_trailing_newline() {
    assert_eq!(
        render("line {{ n }}\n", json!({"n": 1})).unwrap(),
        "line 1\n"
    );
}

#[test]
fn template_undefined_variable_is_an_error_naming_it() {
    let err = render("line one\n{{ nmae }}", json!({"name": "x"})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("template"));
    assert!(err.message.contains("line 2"), "{}", err.message);
    assert!(err.message.contains("nmae"), "{}", err.message);
    assert!(err.hint.as_deref().unwrap_or("").contains("default"));
}

#[test]
fn template_optional_variables_still_work() {
    let t = "{% if title %}{{ title }}{% else %}none{% endif %} {{ who | default('anon') }} {{ x is defined }}";
    assert_eq!(render(t, json!({})).unwrap(), "none anon False");
}

#[test]
fn template_syntax_error_gives_the_line() {
    let err = render("ok\nok\n{% for x in %}{% endfor %}", json!({})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.kind.exit_code(), 2);
    assert_eq!(err.field.as_deref(), Some("template"));
    assert!(err.message.contains("syntax error"), "{}", err.message);
    assert!(err.message.contains("line 3"), "{}", err.message);

    let err = render("{% if x %}never closed", json!({"x": 1})).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("template"));
}

#[test]
fn template_cannot_include_files() {
    let err = render("{% include 'secret.txt' %}", json!({})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("template"));
}

#[test]
fn template_runaway_range_stops() {
    let err = render("{% for i in range(100000000) %}{% endfor %}", json!({})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
    assert_eq!(err.field.as_deref(), Some("template"));
    assert!(err.message.contains("too much work"), "{}", err.message);
    assert!(err.hint.is_some());
}

#[test]
fn template_nested_loops_run_out_of_budget() {
    let t = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    let err = render(t, json!({})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
    assert!(err.message.contains("too much work"), "{}", err.message);
    assert!(err.message.contains("line 1"), "{}", err.message);
}

#[test]
fn template_output_is_capped_at_one_mib() {
    let err = render("{{ 'x' * 2000000 }}", json!({})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
    assert!(err.message.contains("1 MiB"), "{}", err.message);

    let err = render(
        "{% for i in range(100000) %}0123456789abcdef{% endfor %}",
        json!({}),
    )
    .unwrap_err();
    assert!(err.message.contains("1 MiB"), "{}", err.message);

    // Just under the cap is fine.
    let out = render("{{ 'x' * 1048576 }}", json!({})).unwrap();
    assert_eq!(out.len(), 1024 * 1024);
}

#[test]
fn template_stops_when_cancelled() {
    let cancel = AtomicBool::new(true);
    let options = CallOptions {
        cancel: Some(&cancel),
        ..CallOptions::default()
    };
    let err = call_with(
        "text.template.render",
        json!({"template": "{% for i in range(10) %}{{ i }}{% endfor %}"}),
        options,
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled);
}

#[test]
fn template_runtime_error_is_invalid_input() {
    let err = render("a\n{{ 1 / 0 }}", json!({})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("template"));
    assert!(err.message.contains("line 2"), "{}", err.message);
}

#[test]
fn template_wrong_syntax_or_variables_type_is_invalid_input() {
    let err = call(
        "text.template.render",
        json!({"template": "x", "syntax": "handlebars"}),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("syntax"));

    let err = call(
        "text.template.render",
        json!({"template": "x", "variables": [1]}),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("variables"));
}
