//! A full `Handlers` implementation of the fixture specs compiles, each handler using
//! exactly the powers its spec declares, and the generated `Call::parse` applies the spec's
//! defaults, enums, bounds, patterns and required fields. (The cases that must not compile
//! are in `tests/ui/fail/`, checked by `tests/compile_fail.rs`.)

#![allow(dead_code)]

include!("ui/fixture_caps.rs");

use airun::powers::WriteMode;
use airun::{Access, CallInfo, CapError, CapabilitySet, ErrorKind, SideEffect, UndoStrategy};
use fixture::{files, greet, notes};
use serde_json::json;
use std::io::Read;

struct Fixture;

impl Handlers for Fixture {
    fn fixture_files_peek(
        &self,
        ctx: &mut files::PeekCtx<'_>,
        params: files::PeekParams,
    ) -> Result<files::PeekResult, CapError> {
        let mut file = ctx.open_read(&params.path)?;
        let size = file.len() as i64;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| CapError::execution(e.to_string()))?;
        ctx.checkpoint()?;
        let (kind, text) = match String::from_utf8(bytes) {
            Ok(t) => (files::PeekKind::Text, t),
            Err(_) => (files::PeekKind::Binary, String::new()),
        };
        let head = text
            .lines()
            .take(params.lines as usize)
            .enumerate()
            .map(|(i, line)| files::PeekHeadItem {
                number: i as i64 + 1,
                text: line.chars().take(80).collect(),
                truncated: (line.chars().count() > 80).then_some(true),
            })
            .collect();
        Ok(files::PeekResult {
            size,
            kind,
            head,
            encoding: (kind == files::PeekKind::Text).then(|| "utf-8".to_string()),
        })
    }

    fn fixture_greet_say(
        &self,
        _ctx: &mut greet::SayCtx<'_>,
        params: greet::SayParams,
    ) -> Result<greet::SayResult, CapError> {
        let word = match params.style {
            greet::SayStyle::Plain => "Hello",
            greet::SayStyle::Formal => "Good day",
            greet::SayStyle::Pirate => "Ahoy",
        };
        let one = format!(
            "{word}, {}{}",
            params.name,
            params.suffix.as_deref().unwrap_or("")
        );
        let one = if params.shout {
            one.to_uppercase()
        } else {
            one
        };
        let message = vec![one; params.times as usize].join(" ");
        Ok(greet::SayResult {
            length: message.chars().count() as i64,
            message,
        })
    }

    fn fixture_notes_append(
        &self,
        ctx: &mut notes::AppendCtx<'_>,
        params: notes::AppendParams,
    ) -> Result<notes::AppendResult, CapError> {
        let line = format!("[{}] {}\n", params.tags.join(","), params.text);
        let outcome = ctx.write_file(&params.path, line.as_bytes(), WriteMode::Append, true)?;
        Ok(notes::AppendResult {
            bytes_written: line.len() as i64,
            created: outcome.created,
        })
    }
}

fn parse_err(name: &str, args: serde_json::Value) -> CapError {
    match Call::parse(name, args) {
        Ok(call) => panic!("expected an error, parsed {call:?}"),
        Err(e) => e,
    }
}

#[test]
fn generated_code_parses_and_describes_the_fixture_specs() {
    // Defaults, by dotted id.
    let call = Call::parse("fixture.greet.say", json!({"name": "Ada"})).unwrap();
    assert_eq!(call.capability().id, "fixture.greet.say");
    let Call::FixtureGreetSay(p) = &call else {
        panic!("wrong variant: {call:?}")
    };
    assert_eq!(p.name, "Ada");
    assert!(!p.shout);
    assert_eq!(p.times, 1);
    assert_eq!(p.style, greet::SayStyle::Plain);
    assert_eq!(p.suffix, None);
    assert_eq!(
        call.params().to_json(),
        json!({"name": "Ada", "shout": false, "times": 1, "style": "plain", "suffix": null})
    );

    // Tool names parse too; enums and patterns accept their values; nulls mean "not given".
    let call = Call::parse(
        "fixture_greet_say",
        json!({"name": "Bo", "style": "pirate", "times": 5, "suffix": "!?", "shout": null}),
    )
    .unwrap();
    let Call::FixtureGreetSay(p) = call else {
        panic!("wrong variant")
    };
    assert_eq!(p.style, greet::SayStyle::Pirate);
    assert_eq!(p.style.as_str(), "pirate");
    assert_eq!(
        (p.times, p.suffix.as_deref(), p.shout),
        (5, Some("!?"), false)
    );

    // Every constraint of the spec is enforced, naming the field.
    for (args, field) in [
        (json!({"name": "Ada", "times": 6}), "times"),
        (json!({"name": "Ada", "times": 0}), "times"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(41)}), "name"),
        (json!({"name": "Ada", "suffix": "!x"}), "suffix"),
        (json!({"name": "Ada", "style": "shouty"}), "style"),
        (json!({"name": "Ada", "times": "two"}), "times"),
        (json!({"name": "Ada", "loud": true}), "loud"),
        (json!({}), "name"),
    ] {
        let e = parse_err("fixture.greet.say", args.clone());
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{args}: {e:?}");
        assert_eq!(e.field.as_deref(), Some(field), "{args}: {e:?}");
    }
    let e = parse_err("fixture.greet.shout", json!({}));
    assert_eq!(e.kind, ErrorKind::InvalidInput);

    // Path inputs are reported to the sandbox stage with their access.
    let call = Call::parse("fixture.files.peek", json!({"path": "notes/a.txt"})).unwrap();
    let paths = call.params().paths();
    assert_eq!(paths.len(), 1);
    assert_eq!(
        (paths[0].field, paths[0].path.as_str(), paths[0].access),
        ("path", "notes/a.txt", Access::Read)
    );
    let Call::FixtureFilesPeek(p) = &call else {
        panic!("wrong variant")
    };
    assert_eq!(p.lines, 3);
    assert_eq!(
        parse_err("fixture.files.peek", json!({"path": ""}))
            .field
            .as_deref(),
        Some("path")
    );

    // Array defaults, free-form objects, write access.
    let call = Call::parse(
        "fixture.notes.append",
        json!({"path": "n.md", "text": "hi", "options": {"any": [1, 2]}}),
    )
    .unwrap();
    let Call::FixtureNotesAppend(p) = &call else {
        panic!("wrong variant")
    };
    assert_eq!(p.tags, ["note"]);
    assert_eq!(
        p.options.as_ref().and_then(|o| o.get("any")),
        Some(&json!([1, 2]))
    );
    assert_eq!(call.params().paths()[0].access, Access::Write);

    // Optional outputs are left out of the JSON; nested array-of-object outputs serialize.
    let result = files::PeekResult {
        size: 2,
        kind: files::PeekKind::Text,
        head: vec![files::PeekHeadItem {
            number: 1,
            text: "a".into(),
            truncated: None,
        }],
        encoding: None,
    };
    assert_eq!(
        serde_json::to_value(&result).unwrap(),
        json!({"size": 2, "kind": "text", "head": [{"number": 1, "text": "a"}]})
    );
    // The pipeline's conversion (text moved, not copied) gives the same JSON as serde,
    // key order included.
    use airun::__private::IntoOutput;
    let with_encoding = files::PeekResult {
        encoding: Some("utf-8".into()),
        ..result.clone()
    };
    for r in [result, with_encoding] {
        let serde = serde_json::to_string(&r).unwrap();
        assert_eq!(r.into_output().unwrap().to_string(), serde);
    }

    // The catalog carries the contracts of each spec, in id order.
    let set = Capabilities(Fixture);
    let ids: Vec<&str> = set.catalog().iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "fixture.files.peek",
            "fixture.greet.say",
            "fixture.notes.append"
        ]
    );
    assert!(
        set.parse("fixture_notes_append", json!({"path": "n.md", "text": "x"}))
            .is_ok()
    );
    let say = &fixture::greet::SAY;
    assert_eq!(say.tool_name, "fixture_greet_say");
    assert_eq!(say.side_effects, [SideEffect::ReadOnly]);
    assert!(say.annotations.read_only && say.idempotent && !say.is_mutating());
    let append = &fixture::notes::APPEND;
    assert_eq!(append.version, "0.1.0");
    assert!(append.requires_confirmation && append.is_mutating());
    assert_eq!(append.undo_strategy, UndoStrategy::RestoreFromBackup);
    assert_eq!(append.undo_targets, ["path"]);
    assert_eq!(append.sensitive_inputs, ["text"]);
    assert_eq!(append.path_inputs, [("path", Access::Write)]);
    let schema = say.input_schema_json();
    assert_eq!(schema["required"], json!(["name"]));
    assert_eq!(schema["properties"]["times"]["maximum"], json!(5));
}
