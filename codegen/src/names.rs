//! Naming rules: ids, tool names, Rust identifiers.

/// The MCP / OpenAI tool name of a dotted id: `io.fs.read_file` -> `io_fs_read_file`.
pub fn tool_name(id: &str) -> String {
    id.replace('.', "_")
}

/// Says what is wrong with an id, if anything. Ids are `namespace.sub.verb`:
/// two or more dot-separated segments of `[a-z0-9_]`, each starting with a letter.
pub fn id_problem(id: &str) -> Option<String> {
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '.'))
    {
        return Some(format!(
            "id `{id}` contains `{bad}`; ids may use only lowercase letters, digits, `_` and `.` ([a-z0-9_.])"
        ));
    }
    let segments: Vec<&str> = id.split('.').collect();
    if segments.len() < 2 {
        return Some(format!(
            "id `{id}` needs a namespace, as in `namespace.sub.verb` (for example `io.fs.read_file`)"
        ));
    }
    if let Some(bad) = segments
        .iter()
        .find(|s| matches!(**s, "self" | "super" | "crate" | "mod"))
    {
        return Some(format!(
            "id `{id}` has the segment `{bad}`, a reserved Rust word; choose another name"
        ));
    }
    if segments
        .iter()
        .any(|s| !s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
    {
        return Some(format!(
            "id `{id}` has a segment that is empty or does not start with a letter"
        ));
    }
    None
}

/// True for snake_case field names.
pub fn is_field_name(name: &str) -> bool {
    if matches!(name, "self" | "super" | "crate") {
        return false;
    }
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// PascalCase of any text: `read_file` -> `ReadFile`, `utf-8` -> `Utf8`.
pub fn pascal(s: &str) -> String {
    let mut out = String::new();
    let mut up = true;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if up {
                out.extend(c.to_uppercase());
            } else {
                out.push(c.to_ascii_lowercase());
            }
            up = c.is_ascii_digit();
        } else {
            up = true;
        }
    }
    out
}

/// SCREAMING_SNAKE_CASE of a snake_case name.
pub fn screaming(s: &str) -> String {
    s.to_ascii_uppercase()
}

/// A Rust identifier for a spec name, raw when it is a keyword.
pub fn ident(name: &str) -> proc_macro2::Ident {
    if name != "gen" && syn::parse_str::<syn::Ident>(name).is_ok() {
        proc_macro2::Ident::new(name, proc_macro2::Span::call_site())
    } else {
        proc_macro2::Ident::new_raw(name, proc_macro2::Span::call_site())
    }
}

/// The last segment of a dotted id: `io.fs.read_file` -> `read_file`.
pub fn verb(id: &str) -> &str {
    id.rsplit('.').next().unwrap_or(id)
}

/// The namespace of a dotted id, the Rust module its types live in: `io.fs.read_file` -> `io.fs`.
pub fn namespace(id: &str) -> &str {
    id.rsplit_once('.').map(|(m, _)| m).unwrap_or_default()
}

/// The PascalCase stem of a capability's generated type names: `io.fs.read_file` -> `ReadFile`.
pub fn type_stem(id: &str) -> String {
    pascal(verb(id))
}

/// The params struct of a capability with type stem `stem`: `ReadFileParams`.
pub fn params_type(stem: &str) -> String {
    format!("{stem}Params")
}

/// The result struct of a capability with type stem `stem`: `ReadFileResult`.
pub fn result_type(stem: &str) -> String {
    format!("{stem}Result")
}

/// The handler context alias of a capability with type stem `stem`: `ReadFileCtx`.
pub fn ctx_type(stem: &str) -> String {
    format!("{stem}Ctx")
}

/// The power marker of capability `id` (the type its context's powers are implemented
/// for): `io.fs.read_file` -> `IoFsReadFile`.
pub fn marker_type(id: &str) -> String {
    pascal(&tool_name(id))
}

/// The enum or struct generated for field `field` inside the type named `parent`:
/// (`ListDir`, `entries`) -> `ListDirEntries`.
pub fn field_type(parent: &str, field: &str) -> String {
    format!("{parent}{}", pascal(field))
}

/// The enum or struct generated for the elements of an array field whose type name would be
/// `array`: `ListDirEntries` -> `ListDirEntriesItem`.
pub fn item_type(array: &str) -> String {
    format!("{array}Item")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_cases() {
        assert_eq!(pascal("read_file"), "ReadFile");
        assert_eq!(pascal("utf-8"), "Utf8");
        assert_eq!(pascal("iso8601"), "Iso8601");
        assert_eq!(pascal("create_new"), "CreateNew");
    }

    #[test]
    fn ids() {
        assert!(id_problem("io.fs.read_file").is_none());
        assert!(id_problem("sys.undo").is_none());
        assert!(id_problem("Io.fs").is_some());
        assert!(id_problem("undo").is_some());
        assert!(id_problem("io..x").is_some());
        assert!(id_problem("io.fs-x").is_some());
    }

    #[test]
    fn generated_type_names() {
        let stem = type_stem("io.fs.list_dir");
        assert_eq!(stem, "ListDir");
        assert_eq!(params_type(&stem), "ListDirParams");
        assert_eq!(result_type(&stem), "ListDirResult");
        assert_eq!(ctx_type(&stem), "ListDirCtx");
        assert_eq!(marker_type("io.fs.list_dir"), "IoFsListDir");
        assert_eq!(
            item_type(&field_type(&stem, "entries")),
            "ListDirEntriesItem"
        );
        assert_eq!(namespace("io.fs.list_dir"), "io.fs");
        assert_eq!(verb("io.fs.list_dir"), "list_dir");
    }

    #[test]
    fn keywords_become_raw() {
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("path").to_string(), "path");
    }
}
