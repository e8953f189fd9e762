//! `data.json.parse`, `data.json.stringify` and `data.json.pointer`, driven through the pipeline.

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::{CapError, ErrorKind};
use serde_json::{Value, json};

/// Runs one call through a fresh pipeline on an empty temporary workspace.
fn call(name: &str, args: Value) -> Result<Value, CapError> {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path(), false, None).unwrap();
    let k = Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default());
    k.execute(name, args, &FlagConfirmer, CallOptions::default())
}

fn stringify(args: Value) -> String {
    let out = call("data.json.stringify", args).unwrap();
    out["text"].as_str().unwrap().to_string()
}

#[test]
fn parse_returns_the_value() {
    let out = call("data.json.parse", json!({"text": "[1, 2]"})).unwrap();
    assert_eq!(out, json!({"value": [1, 2]}));

    let out = call(
        "data.json.parse",
        json!({"text": " {\"a\": {\"b\": [true, null, 1.5, \"x\"]}} \n"}),
    )
    .unwrap();
    assert_eq!(out, json!({"value": {"a": {"b": [true, null, 1.5, "x"]}}}));
}

#[test]
fn parse_scalars_and_null() {
    assert_eq!(
        call("data.json.parse", json!({"text": "null"})).unwrap(),
        json!({"value": null})
    );
    assert_eq!(
        call("data.json.parse", json!({"text": "\"hi\""})).unwrap(),
        json!({"value": "hi"})
    );
    assert_eq!(
        call("data.json.parse", json!({"text": "-3"})).unwrap(),
        json!({"value": -3})
    );
}

#[test]
fn parse_keeps_key_order() {
    let out = call(
        "data.json.parse",
        json!({"text": "{\"z\": 1, \"a\": 2, \"m\": 3}"}),
    )
    .unwrap();
    let keys: Vec<&String> = out["value"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[test]
fn parse_error_gives_line_and_column() {
    let err = call("data.json.parse", json!({"text": "{\"a\": [1,\n  2,]}"})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.kind.exit_code(), 2);
    assert_eq!(err.field.as_deref(), Some("text"));
    assert!(err.message.contains("line 2"), "{}", err.message);
    assert!(err.message.contains("column 5"), "{}", err.message);
    assert!(err.message.contains("trailing comma"), "{}", err.message);
    assert!(err.hint.is_some());
}

#[test]
fn parse_error_on_empty_and_trailing_text() {
    let err = call("data.json.parse", json!({"text": ""})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("text"));
    assert!(err.message.contains("line 1"), "{}", err.message);

    let err = call("data.json.parse", json!({"text": "1 2"})).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("text"));
    assert!(err.message.contains("line 1, column 3"), "{}", err.message);
}

#[test]
fn parse_missing_text_is_invalid_input() {
    let err = call("data.json.parse", json!({})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("text"));
}

#[test]
fn tool_name_works() {
    let out = call("data_json_parse", json!({"text": "{\"k\": 1}"})).unwrap();
    assert_eq!(out, json!({"value": {"k": 1}}));
    let out = call("data_json_stringify", json!({"value": [1]})).unwrap();
    assert_eq!(out, json!({"text": "[1]"}));
}

#[test]
fn unknown_field_is_invalid_input_naming_it() {
    let err = call("data.json.parse", json!({"text": "1", "bogus": 1})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("bogus"));
    assert!(err.message.contains("bogus"), "{}", err.message);
}

#[test]
fn stringify_compact_keeps_order() {
    let text = stringify(json!({"value": {"b": 1, "a": [1, 2, {"d": null, "c": "x"}]}}));
    assert_eq!(text, r#"{"b":1,"a":[1,2,{"d":null,"c":"x"}]}"#);
}

#[test]
fn stringify_pretty_uses_two_spaces() {
    let text = stringify(json!({"value": {"a": [1, 2], "b": {}}, "pretty": true}));
    assert_eq!(text, "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}");
}

#[test]
fn stringify_sort_keys_at_every_level() {
    let value = json!({"b": {"z": 1, "a": [{"y": 1, "x": 2}]}, "a": 1});
    let text = stringify(json!({"value": value, "sort_keys": true}));
    assert_eq!(text, r#"{"a":1,"b":{"a":[{"x":2,"y":1}],"z":1}}"#);

    let text = stringify(json!({"value": value, "sort_keys": true, "pretty": true}));
    let expected = "{\n  \"a\": 1,\n  \"b\": {\n    \"a\": [\n      {\n        \"x\": 2,\n        \"y\": 1\n      }\n    ],\n    \"z\": 1\n  }\n}";
    assert_eq!(text, expected);
}

#[test]
fn stringify_scalars_and_escapes() {
    assert_eq!(stringify(json!({"value": "a\"b\n"})), r#""a\"b\n""#);
    assert_eq!(stringify(json!({"value": 1.5})), "1.5");
    assert_eq!(stringify(json!({"value": false})), "false");
}

#[test]
fn stringify_then_parse_round_trips() {
    let value = json!({"k": [1, "two", {"three": 3.0}], "é": "ü"});
    let text = stringify(json!({"value": value, "pretty": true}));
    let back = call("data.json.parse", json!({"text": text})).unwrap();
    assert_eq!(back["value"], value);
}

#[test]
fn stringify_missing_value_is_invalid_input() {
    let err = call("data.json.stringify", json!({"pretty": true})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("value"));
}

#[test]
fn stringify_wrong_type_for_flag_is_invalid_input() {
    let err = call("data.json.stringify", json!({"value": 1, "pretty": "yes"})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("pretty"));
}

#[test]
fn pointer_picks_one_value_out_of_a_document() {
    let text = r#"{"items": [{"name": "a"}, {"name": "b"}], "a/b": 1, "m~n": 2, "": 3}"#;
    let at = |ptr: &str| call("data.json.pointer", json!({"text": text, "pointer": ptr}));
    assert_eq!(
        at("/items/1/name").unwrap(),
        json!({"found": true, "value": "b"})
    );
    assert_eq!(at("/a~1b").unwrap(), json!({"found": true, "value": 1}));
    assert_eq!(at("/m~0n").unwrap(), json!({"found": true, "value": 2}));
    assert_eq!(at("/").unwrap(), json!({"found": true, "value": 3}));
    assert_eq!(at("").unwrap()["value"]["items"][0], json!({"name": "a"}));
    // Nothing there is an answer, not an error; a JSON null value is found.
    assert_eq!(
        at("/items/7").unwrap(),
        json!({"found": false, "value": null})
    );
    assert_eq!(
        call(
            "data.json.pointer",
            json!({"text": "{\"x\": null}", "pointer": "/x"})
        )
        .unwrap(),
        json!({"found": true, "value": null})
    );
}

#[test]
fn pointer_refuses_bad_pointers_and_bad_json_clearly() {
    let e = call(
        "data.json.pointer",
        json!({"text": "{}", "pointer": "items/0"}),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("start with `/`"), "{}", e.message);
    assert!(
        e.hint.as_deref().unwrap_or("").contains("/items/0/name"),
        "{e:?}"
    );
    let e = call(
        "data.json.pointer",
        json!({"text": "{oops", "pointer": "/a"}),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(
        e.message.contains("text") && e.message.contains("not valid JSON"),
        "{}",
        e.message
    );
}
