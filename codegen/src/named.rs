//! Shared types: `types.yaml` in the specs folder defines each once (`EntryKind: {type:
//! string, enum: [...], description: ...}`), a field names one with `ref: EntryKind`, and
//! the generator emits one Rust type for all the fields naming it. The JSON schemas are
//! the same as if each field listed the values itself.

use crate::diag::Diagnostic;
use crate::model::{Field, FieldType, Fields, Spec};

/// The file in a specs folder that defines the shared types; it is not a capability.
pub const TYPES_FILE: &str = "types.yaml";

/// Names the generated code already uses at its root.
const RESERVED: [&str; 4] = ["Call", "Capabilities", "Handlers", "CATALOG"];

/// The shared types, by name, in file order.
#[derive(Debug, Default)]
pub struct NamedTypes(pub Fields);

impl NamedTypes {
    /// The definition of `name`, if `types.yaml` has one.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.0.get(name).map(|f| &f.value)
    }

    /// The defined names, for messages.
    fn names(&self) -> String {
        let names: Vec<&str> = self.0.0.iter().map(|(n, _)| n.value.as_str()).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    }
}

/// Takes the types file out of `files` and parses and checks it; the rest are the
/// capability specs.
pub fn split(files: &[(String, String)]) -> (NamedTypes, Vec<(String, String)>, Vec<Diagnostic>) {
    let mut types = NamedTypes::default();
    let mut specs = Vec::new();
    let mut diags = Vec::new();
    for (file, text) in files {
        let name = std::path::Path::new(file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name != TYPES_FILE {
            specs.push((file.clone(), text.clone()));
            continue;
        }
        let mut options = serde_saphyr::Options::default();
        options.strict_booleans = true;
        match serde_saphyr::from_str_with_options::<Fields>(text, options) {
            Ok(fields) => {
                diags.extend(check_types(file, &fields));
                types = NamedTypes(fields);
            }
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((0, 0));
                diags.push(Diagnostic {
                    file: file.clone(),
                    line,
                    column,
                    message: crate::plain_message(&e.without_snippet().to_string()),
                });
            }
        }
    }
    (types, specs, diags)
}

/// What is wrong with the definitions themselves.
fn check_types(file: &str, fields: &Fields) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (name, f) in &fields.0 {
        let n = &name.value;
        let pascal = n.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && n.chars().all(|c| c.is_ascii_alphanumeric());
        if !pascal || RESERVED.contains(&n.as_str()) {
            out.push(Diagnostic::at(
                file,
                name.referenced,
                format!(
                    "type name `{n}` must be PascalCase ([A-Z][A-Za-z0-9]*) and not one of {}",
                    RESERVED.join(", ")
                ),
            ));
        }
        let fv = &f.value;
        if fv.ty.value != FieldType::String || fv.enum_values.is_none() {
            out.push(Diagnostic::at(
                file,
                fv.ty.referenced,
                format!("`{n}` must be a string with an `enum`; only such types can be shared"),
            ));
        }
        if fv.description.value.trim().is_empty() {
            out.push(Diagnostic::at(
                file,
                fv.description.referenced,
                format!("`{n}` has an empty description"),
            ));
        }
        if let Some(r) = &fv.named {
            out.push(Diagnostic::at(
                file,
                r.referenced,
                format!("`{n}` cannot itself name a type with `ref`"),
            ));
        }
    }
    out
}

/// Fills in the values of every field of `spec` that names a shared type, and says what
/// is wrong with the references.
pub fn resolve(file: &str, spec: &mut Spec, types: &NamedTypes) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for fields in [&mut spec.interface.inputs, &mut spec.interface.outputs] {
        resolve_fields(file, fields, types, &mut out);
    }
    out
}

fn resolve_fields(file: &str, fields: &mut Fields, types: &NamedTypes, out: &mut Vec<Diagnostic>) {
    for (name, f) in &mut fields.0 {
        resolve_field(file, &name.value, &mut f.value, types, out);
    }
}

fn resolve_field(
    file: &str,
    name: &str,
    f: &mut Field,
    types: &NamedTypes,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(items) = &mut f.items {
        resolve_field(file, name, &mut items.value, types, out);
    }
    if let Some(props) = &mut f.properties {
        resolve_fields(file, &mut props.value, types, out);
    }
    let Some(r) = &f.named else {
        return;
    };
    let Some(def) = types.get(&r.value) else {
        out.push(Diagnostic::at(
            file,
            r.referenced,
            format!(
                "`{name}` names the type `{}`, which {TYPES_FILE} does not define (it defines: {})",
                r.value,
                types.names()
            ),
        ));
        return;
    };
    if f.enum_values.is_some() {
        out.push(Diagnostic::at(
            file,
            r.referenced,
            format!(
                "`{name}` names the type `{}` and lists an `enum`; drop the `enum`, the type gives the values",
                r.value
            ),
        ));
    } else if f.ty.value != def.ty.value {
        out.push(Diagnostic::at(
            file,
            r.referenced,
            format!(
                "`{name}` is {} but the type `{}` is {}; write `type: {}`",
                f.ty.value.name(),
                r.value,
                def.ty.value.name(),
                def.ty.value.name()
            ),
        ));
    } else {
        f.enum_values = def.enum_values.clone();
    }
}

#[cfg(test)]
mod tests {
    const TYPES: &str = "Kind:\n  type: string\n  enum: [file, dir]\n  description: What it is.\n";

    fn spec(kind_field: &str) -> String {
        format!(
            "meta:\n  id: demo.look\n  version: 1.0.0\n  title: Look\n  description: Look at something.\n\
             interface:\n  outputs:\n    kind: {kind_field}\n    also:\n      type: array\n      description: More.\n      \
             items: {{type: string, ref: Kind, description: \"One.\"}}\n\
             contracts:\n  side_effects: [read_only]\n  idempotent: true\n  timeout_seconds: 5\n\
             behavior:\n  undo_strategy: none\n"
        )
    }

    fn generate(types: &str, kind_field: &str) -> Result<String, Vec<crate::Diagnostic>> {
        crate::generate(&[
            ("specs/demo.look.yaml".to_string(), spec(kind_field)),
            ("specs/types.yaml".to_string(), types.to_string()),
        ])
    }

    #[test]
    fn a_shared_type_is_generated_once_and_its_schema_is_unchanged() {
        let code = generate(
            TYPES,
            "{type: string, ref: Kind, description: \"What was looked at.\"}",
        )
        .expect("the specs are valid");
        assert_eq!(code.matches("pub enum Kind {").count(), 1, "{code}");
        assert!(code.contains("pub kind: super::Kind,"), "{code}");
        assert!(
            code.contains("pub also: ::std::vec::Vec<super::Kind>,"),
            "{code}"
        );
        assert!(!code.contains("LookKind"), "{code}");
        let listed = generate(
            "",
            "{type: string, enum: [file, dir], description: \"What was looked at.\"}",
        );
        // The same spec with the values written out has the same output schema.
        let schema = |code: &str| {
            let start = code.find("output_schema: ").expect("an output schema");
            code[start..].lines().next().unwrap_or_default().to_string()
        };
        let listed = listed.expect_err("`also` still names Kind, which an empty types file lacks");
        assert!(listed[0].message.contains("does not define"), "{listed:?}");
        let both = generate(
            TYPES,
            "{type: string, enum: [file, dir], description: \"What was looked at.\"}",
        )
        .expect("the specs are valid");
        assert_eq!(schema(&code), schema(&both));
    }

    #[test]
    fn wrong_references_are_diagnostics() {
        let unknown = generate(TYPES, "{type: string, ref: Nope, description: \"X.\"}")
            .expect_err("an unknown type");
        assert!(
            unknown.iter().any(|d| d.message.contains("`Nope`")
                && d.message.contains("defines: Kind")
                && d.file == "specs/demo.look.yaml"),
            "{unknown:?}"
        );
        let doubled = generate(
            TYPES,
            "{type: string, ref: Kind, enum: [file], description: \"X.\"}",
        )
        .expect_err("ref and enum together");
        assert!(
            doubled
                .iter()
                .any(|d| d.message.contains("drop the `enum`")),
            "{doubled:?}"
        );
        let wrong = generate(TYPES, "{type: integer, ref: Kind, description: \"X.\"}")
            .expect_err("a type mismatch");
        assert!(
            wrong
                .iter()
                .any(|d| d.message.contains("write `type: string`")),
            "{wrong:?}"
        );
        let bad_def = generate(
            "kind:\n  type: integer\n  description: X.\n",
            "{type: string, description: \"X.\"}",
        )
        .expect_err("a bad definition");
        assert!(
            bad_def
                .iter()
                .any(|d| d.file == "specs/types.yaml" && d.message.contains("PascalCase")),
            "{bad_def:?}"
        );
        assert!(
            bad_def
                .iter()
                .any(|d| d.message.contains("string with an `enum`")),
            "{bad_def:?}"
        );
    }

    /// airun's own specs give the same schemas as when every field naming a shared type
    /// listed its values itself.
    #[test]
    fn the_stdlib_schemas_are_those_of_the_written_out_values() {
        let dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
            .join("../specs");
        let files = crate::read_dir(&dir, "specs").expect("the specs folder is readable");
        let (types, specs, diags) = super::split(&files);
        assert!(diags.is_empty(), "{diags:?}");
        let mut written_out = specs.clone();
        let mut replaced = 0;
        for (_, text) in &mut written_out {
            for (name, def) in &types.0.0 {
                let values = def
                    .value
                    .enum_values
                    .as_ref()
                    .expect("an enum")
                    .value
                    .join(", ");
                let from = format!("ref: {}", name.value);
                replaced += text.matches(&from).count();
                *text = text.replace(&from, &format!("enum: [{values}]"));
            }
        }
        assert!(replaced >= 9, "only {replaced} fields name a shared type");
        // The catalog entries (schemas included), whatever their layout.
        let schemas = |code: String| -> Vec<String> {
            code.split(": ::airun::Capability = ::airun::Capability {")
                .skip(1)
                .map(|entry| entry.split("};").next().unwrap_or_default().to_string())
                .collect()
        };
        let shared = schemas(crate::generate(&files).expect("the specs are valid"));
        let inline =
            schemas(crate::generate(&written_out).expect("the written-out specs are valid"));
        assert_eq!(shared.len(), specs.len());
        assert!(shared.iter().all(|entry| entry.contains("output_schema")));
        assert_eq!(shared, inline);
    }
}
