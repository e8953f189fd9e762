//! Integer bounds stay exact integers from the spec to the schema and the generated check;
//! they never pass through a float (which would round 2^53 + 1 to 2^53).

fn spec(min: &str, max: &str) -> Vec<(String, String)> {
    let text = format!(
        r#"meta:
  id: big.count
  version: 1.0.0
  title: Count
  description: Count up.
interface:
  inputs:
    n: {{type: integer, required: true, min: {min}, max: {max}, description: "A number."}}
    x: {{type: number, min: 0, max: 2.5, description: "A float."}}
  outputs:
    n: {{type: integer, description: "The number."}}
contracts:
  side_effects: [read_only]
  timeout_seconds: 5
behavior:
  undo_strategy: none
"#
    );
    vec![("specs/big.count.yaml".to_string(), text)]
}

#[test]
fn integer_bounds_are_exact_in_the_check_and_the_schema() {
    let code = airun_codegen::generate(&spec("-9007199254740993", "9007199254740993"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    assert!(code.contains("*v < -9007199254740993i64"), "{code}");
    assert!(code.contains("*v > 9007199254740993i64"), "{code}");
    assert!(
        code.contains(r#""minimum":-9007199254740993,"maximum":9007199254740993"#),
        "{code}"
    );
    // Number fields keep float bounds.
    assert!(
        code.contains("*v < 0f64") && code.contains("*v > 2.5f64"),
        "{code}"
    );
    assert!(code.contains(r#""minimum":0.0,"maximum":2.5"#), "{code}");
}

#[test]
fn whole_float_bounds_of_integer_fields_become_integers() {
    let code = airun_codegen::generate(&spec("1.0", "10")).unwrap_or_else(|d| panic!("{d:?}"));
    assert!(
        code.contains("*v < 1i64") && code.contains("*v > 10i64"),
        "{code}"
    );
}

#[test]
fn max_below_min_compares_exactly() {
    let diags = airun_codegen::generate(&spec("9007199254740993", "9007199254740992"))
        .expect_err("max is one below min");
    let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "specs/big.count.yaml:8:68: field `n` has max 9007199254740992 below its min 9007199254740993"
        ]
    );
}
