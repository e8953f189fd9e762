//! Constraints declared on nested inputs (array items, object properties) are enforced,
//! and the error names the nested field.

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use serde_json::json;

#[test]
fn a_nested_constraint_is_checked_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::open(&tmp.path().join("ws"), true, None).unwrap();
    std::fs::write(tmp.path().join("ws/a.txt"), "hello\n").unwrap();
    let k = Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default());
    let err = k
        .execute(
            "io.fs.edit_file",
            json!({"path": "a.txt", "edits": [
                {"old_text": "hello", "new_text": "bye"},
                {"old_text": "", "new_text": "x"}
            ]}),
            &FlagConfirmer,
            CallOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind, airun::ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("edits[1].old_text"), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("ws/a.txt")).unwrap(),
        "hello\n"
    );
}
