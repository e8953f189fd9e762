//! Support for generated code. Not a public API: names here may change at any time.

pub use regex;
pub use serde;
pub use serde_json;

use crate::error::{CapError, ErrorKind};
use serde::de::DeserializeOwned;

/// Deserializes a call's arguments into typed params and checks their constraints,
/// naming the field at fault. Top-level `null`s mean "not given", except for the inputs
/// in `keep_null` (free JSON values, where `null` is a value).
pub fn parse_params<P: DeserializeOwned + crate::Params>(
    args: serde_json::Value,
    keep_null: &[&str],
) -> Result<P, CapError> {
    let args = match args {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        serde_json::Value::Object(mut m) => {
            m.retain(|k, v| !v.is_null() || keep_null.contains(&k.as_str()));
            serde_json::Value::Object(m)
        }
        other => {
            return Err(CapError::new(
                ErrorKind::InvalidInput,
                format!("arguments must be a JSON object, got {}", kind_of(&other)),
            )
            .with_hint("pass an object such as {\"path\": \"notes.txt\"}"));
        }
    };
    let params: P = serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        describe_serde_error(&path, &inner)
    })?;
    params.validate()?;
    Ok(params)
}

fn describe_serde_error(path: &str, msg: &str) -> CapError {
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let full = if path == "." {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        return CapError::invalid_field(&full, "is required but missing");
    }
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let expected = rest
            .split_once(", expected ")
            .map(|(_, e)| e)
            .unwrap_or("no fields");
        return CapError::invalid_field(field, "is not an input of this capability")
            .with_hint(format!("the inputs are {expected}"));
    }
    let field = if path == "." {
        "arguments".to_string()
    } else {
        path.to_string()
    };
    let msg = msg
        .replace("invalid type: ", "has the wrong type: got ")
        .replace("invalid value: ", "has a wrong value: ");
    CapError::invalid_field(&field, msg)
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A handler result as JSON: what serde writes for it, its text moved rather than
/// copied (generated for every result type).
pub trait IntoOutput {
    /// The result as a JSON object.
    fn into_output(self) -> Result<serde_json::Value, serde_json::Error>;
}

/// Turns a handler result into JSON.
pub fn to_output<R: IntoOutput>(r: Result<R, CapError>) -> Result<serde_json::Value, CapError> {
    r?.into_output()
        .map_err(|e| CapError::execution(format!("cannot encode the result: {e}")))
}

/// A spec default given as JSON text, checked against the type when the spec was compiled.
pub fn spec_default<T: DeserializeOwned>(json: &str) -> T {
    serde_json::from_str(json).expect("spec defaults are type-checked at build time")
}

/// A spec `pattern`, checked to compile when the spec was compiled.
pub fn compile_spec_pattern(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).expect("spec patterns are checked at build time")
}
