//! Bad-spec diagnostics: every mistake a spec author can make is reported as one exact
//! `file:line:col: message` line that points at the offending value and says what to do.
//!
//! Each fixture in `tests/bad/` holds exactly one mistake. Its file name matches its id
//! (except where the mismatch is the mistake), so only the intended diagnostic appears.

use airun_codegen::{Diagnostic, generate, read_dir};
use std::path::PathBuf;

/// The folder holding this crate's spec fixtures.
fn fixtures() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("tests")
}

/// Generates from the given fixture files (relative to `tests/`, shown under that name)
/// and returns the diagnostics, failing when generation succeeds.
fn diagnostics(files: &[&str]) -> Vec<Diagnostic> {
    let inputs: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(fixtures().join(f))
                .unwrap_or_else(|e| panic!("cannot read fixture {f}: {e}"));
            (f.to_string(), text)
        })
        .collect();
    match generate(&inputs) {
        Ok(_) => panic!("{files:?} generated code, but a diagnostic was expected"),
        Err(d) => d,
    }
}

/// Asserts that one fixture file produces exactly one diagnostic, equal to `expected`.
#[track_caller]
fn assert_one(file: &str, expected: &str) {
    let diags = diagnostics(&[file]);
    let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert_eq!(
        diags.len(),
        1,
        "expected one diagnostic for {file}, got {shown:#?}"
    );
    assert_eq!(shown[0], expected);
}

#[test]
fn unknown_field() {
    assert_one(
        "bad/bad.unknown_field.yaml",
        "bad/bad.unknown_field.yaml:5:3: unknown field `author` (expected one of id, version, title, description); check the spelling against specs/README.md",
    );
}

#[test]
fn wrong_type_of_value() {
    assert_one(
        "bad/bad.wrong_type.yaml",
        "bad/bad.wrong_type.yaml:13:20: wrong type: expected a whole number",
    );
}

#[test]
fn integer_bound_with_a_fraction() {
    assert_one(
        "bad/bad.int_bound_fraction.yaml",
        "bad/bad.int_bound_fraction.yaml:9:33: `min` / `max` of the integer field `times` must be a whole number, not 0.5",
    );
}

#[test]
fn bound_that_is_not_a_number() {
    assert_one(
        "bad/bad.bound_text.yaml",
        "bad/bad.bound_text.yaml:9:28: wrong type: expected a number",
    );
}

#[test]
fn unknown_type_name() {
    assert_one(
        "bad/bad.unknown_type.yaml",
        "bad/bad.unknown_type.yaml:8:18: unknown value `strng` (expected one of string, integer, number, boolean, path, url, bytes, json, array, object)",
    );
}

#[test]
fn default_of_the_wrong_type() {
    assert_one(
        "bad/bad.default_type.yaml",
        "bad/bad.default_type.yaml:9:37: default of `times` is the string \"three\", but the field is integer",
    );
}

#[test]
fn enum_default_not_in_the_enum() {
    assert_one(
        "bad/bad.enum_default.yaml",
        "bad/bad.enum_default.yaml:9:57: default of `case` `title` is not one of its enum values (upper, lower)",
    );
}

#[test]
fn undo_target_that_is_not_a_path_input() {
    assert_one(
        "bad/bad.undo_not_path.yaml",
        "bad/bad.undo_not_path.yaml:17:18: undo target `text` is a string input, not a path input",
    );
}

#[test]
fn undo_target_that_is_not_an_input() {
    assert_one(
        "bad/bad.undo_not_input.yaml",
        "bad/bad.undo_not_input.yaml:17:18: undo target `target` is not an input of this capability",
    );
}

#[test]
fn mutating_side_effect_without_undo() {
    assert_one(
        "bad/bad.mutating_no_undo.yaml",
        "bad/bad.mutating_no_undo.yaml:16:18: undo_strategy is `none` but the side effect `filesystem_write` changes state; use `restore_from_backup` or, if it truly cannot be taken back, `irreversible`",
    );
}

#[test]
fn id_with_an_uppercase_letter() {
    assert_one(
        "bad/bad.Upper.yaml",
        "bad/bad.Upper.yaml:2:7: id `bad.Upper` contains `U`; ids may use only lowercase letters, digits, `_` and `.` ([a-z0-9_.])",
    );
}

#[test]
fn id_with_a_dash() {
    assert_one(
        "bad/bad.with-dash.yaml",
        "bad/bad.with-dash.yaml:2:7: id `bad.with-dash` contains `-`; ids may use only lowercase letters, digits, `_` and `.` ([a-z0-9_.])",
    );
}

#[test]
fn two_ids_with_the_same_tool_name() {
    let diags = diagnostics(&["bad/dup_tool/a.b_c.yaml", "bad/dup_tool/a_b.c.yaml"]);
    let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "bad/dup_tool/a_b.c.yaml:2:7: id `a_b.c` maps to tool name `a_b_c`, which `a.b_c` (bad/dup_tool/a.b_c.yaml) already uses; rename one of them"
        ]
    );
}

#[test]
fn tool_name_longer_than_48() {
    assert_one(
        "bad/bad.this_capability_id_is_much_too_long_for_tool_names.yaml",
        "bad/bad.this_capability_id_is_much_too_long_for_tool_names.yaml:2:7: id `bad.this_capability_id_is_much_too_long_for_tool_names` gives tool name `bad_this_capability_id_is_much_too_long_for_tool_names` of 54 characters; the limit is 48, so shorten the id",
    );
}

#[test]
fn file_name_not_matching_the_id() {
    assert_one(
        "bad/bad.wrong_name.yaml",
        "bad/bad.wrong_name.yaml:2:7: the file is named `bad.wrong_name.yaml` but its id is `bad.other_name`; name the file `bad.other_name.yaml`",
    );
}

#[test]
fn yes_is_not_a_boolean() {
    assert_one(
        "bad/bad.strict_bool.yaml",
        "bad/bad.strict_bool.yaml:8:36: wrong type: expected boolean (strict mode expects true/false)",
    );
}

#[test]
fn invalid_regex_pattern() {
    assert_one(
        "bad/bad.bad_pattern.yaml",
        "bad/bad.bad_pattern.yaml:8:51: `pattern` of `text` is not a valid regular expression: unclosed character class",
    );
}

#[test]
fn read_only_combined_with_another_effect() {
    assert_one(
        "bad/bad.read_only_plus.yaml",
        "bad/bad.read_only_plus.yaml:12:17: `read_only` cannot be combined with other side effects; list only the real ones",
    );
}

#[test]
fn write_access_path_without_filesystem_write() {
    assert_one(
        "bad/bad.write_no_effect.yaml",
        "bad/bad.write_no_effect.yaml:8:5: path input `path` needs side effect `filesystem_write`; add it to contracts.side_effects",
    );
}

#[test]
fn diagnostic_fields_match_its_display() {
    let diags = diagnostics(&["bad/bad.wrong_type.yaml"]);
    let d = &diags[0];
    assert_eq!(
        (d.file.as_str(), d.line, d.column),
        ("bad/bad.wrong_type.yaml", 13, 20)
    );
    assert_eq!(d.message, "wrong type: expected a whole number");
}

#[test]
fn every_mistake_in_a_set_is_reported_at_once() {
    let files = read_dir(&fixtures().join("bad"), "bad").expect("the bad fixtures are readable");
    let count = files.len();
    assert!(count >= 16, "expected the bad fixtures, found {count}");
    let diags = generate(&files).expect_err("a set of bad specs must not generate code");
    assert_eq!(
        diags.len(),
        count,
        "each bad fixture holds exactly one mistake: {:#?}",
        diags.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    let mut files_with_diag: Vec<&str> = diags.iter().map(|d| d.file.as_str()).collect();
    files_with_diag.sort_unstable();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        files_with_diag, names,
        "one diagnostic per file, in file order"
    );
}

#[test]
fn good_spec_has_no_diagnostics() {
    let files = read_dir(&fixtures().join("good"), "good").expect("the good fixture is readable");
    assert_eq!(files.len(), 1);
    let code = generate(&files).unwrap_or_else(|d| {
        panic!(
            "unexpected diagnostics: {:#?}",
            d.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    });
    assert!(code.starts_with("// Generated by airun-codegen"));
    assert!(
        code.contains("fn good_text_echo("),
        "the handler method is generated"
    );
    assert!(
        code.contains("pub struct EchoParams"),
        "the params struct is generated"
    );
    assert!(
        code.contains("GoodTextEcho(good::text::EchoParams)"),
        "the Call variant is generated"
    );
}

#[test]
fn requires_confirmation_unless_must_name_a_boolean_input_of_a_confirmed_capability() {
    assert_one(
        "bad/bad.confirm_unless_not_bool.yaml",
        "bad/bad.confirm_unless_not_bool.yaml:15:33: requires_confirmation_unless names `text`, which is not a boolean input (a dry-run flag is)",
    );
    assert_one(
        "bad/bad.confirm_unless_unknown.yaml",
        "bad/bad.confirm_unless_unknown.yaml:15:33: requires_confirmation_unless names `dryrun`, which is not an input",
    );
    assert_one(
        "bad/bad.confirm_unless_unconfirmed.yaml",
        "bad/bad.confirm_unless_unconfirmed.yaml:14:33: requires_confirmation_unless needs `requires_confirmation: true`",
    );
}

#[test]
fn two_generated_types_with_one_name() {
    assert_one(
        "bad/bad.type_clash.yaml",
        "bad/bad.type_clash.yaml:2:7: `bad.type_clash` would generate the Rust type `TypeClashKind` twice; rename a field (e.g. an input and an output with the same enum or object name)",
    );
}

#[test]
fn pattern_on_an_enum() {
    assert_one(
        "bad/bad.enum_pattern.yaml",
        "bad/bad.enum_pattern.yaml:8:18: `mode` has an `enum`; `pattern` and lengths add nothing to a fixed list of values, so drop them",
    );
}

#[test]
fn reserved_word_as_an_id_segment() {
    assert_one(
        "bad_self/bad.self.yaml",
        "bad_self/bad.self.yaml:2:7: id `bad.self` has the segment `self`, a reserved Rust word; choose another name",
    );
}

/// A capability's power marker (`clash.x` -> `ClashX`) is a generated type too: another
/// capability of the namespace whose field type would take that name is refused.
#[test]
fn a_field_type_that_takes_a_power_markers_name() {
    let spec = |id: &str, field: &str| {
        format!(
            "meta:\n  id: {id}\n  version: 1.0.0\n  title: T\n  description: D.\n\
             interface:\n  inputs:\n    {field}: {{type: string, enum: [a, b], default: a, description: \"K.\"}}\n  outputs: {{}}\n\
             contracts:\n  side_effects: [read_only]\n  timeout_seconds: 5\nbehavior:\n  undo_strategy: none\n"
        )
    };
    let files = vec![
        ("clash.clash.yaml".to_string(), spec("clash.clash", "x")),
        ("clash.x.yaml".to_string(), spec("clash.x", "kind")),
    ];
    let diags = generate(&files).expect_err("the marker clash must be refused");
    let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "clash.x.yaml:2:7: `clash.x` and `clash.clash` would both generate the Rust type `ClashX`; rename a field or a capability"
        ],
        "{shown:#?}"
    );
}
