//! Semantic checks on parsed specs. Each mistake becomes one [`Diagnostic`].

use crate::diag::Diagnostic;
use crate::model::{
    Access, Bound, Field, FieldType, Fields, Presence, Side, SideEffect, Spec, UndoStrategy,
};
use crate::names;
use serde_json::Value;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// Longest tool name MCP clients accept comfortably.
pub const MAX_TOOL_NAME: usize = 48;

/// Checks one spec on its own. `stem` is the file name without `.yaml`.
pub fn check_spec(file: &str, stem: &str, spec: &Spec) -> Vec<Diagnostic> {
    let mut c = Checker {
        file,
        out: Vec::new(),
    };
    c.meta(stem, spec);
    c.fields(&spec.interface.inputs, Side::Input, "");
    c.fields(&spec.interface.outputs, Side::Output, "");
    c.contracts(spec);
    c.behavior(spec);
    c.out
}

/// Checks the set: no two ids may map to one tool name.
pub fn check_set(specs: &[(String, Spec)]) -> Vec<Diagnostic> {
    let mut seen: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    let mut out = Vec::new();
    let mut types: BTreeMap<(String, String), &str> = BTreeMap::new();
    for (file, spec) in specs {
        let id = &spec.meta.id.value;
        let module = names::namespace(id).to_string();
        for t in generated_type_names(spec) {
            if let Some(other) = types.insert((module.clone(), t.clone()), id.as_str()) {
                let msg = if other == id.as_str() {
                    format!(
                        "`{id}` would generate the Rust type `{t}` twice; rename a field (e.g. an input and an output with the same enum or object name)"
                    )
                } else {
                    format!(
                        "`{id}` and `{other}` would both generate the Rust type `{t}`; rename a field or a capability"
                    )
                };
                out.push(Diagnostic::at(file, spec.meta.id.referenced, msg));
            }
        }
    }
    for (file, spec) in specs {
        let id = &spec.meta.id.value;
        let tool = names::tool_name(id);
        if let Some((other_file, other_id)) = seen.get(&tool) {
            out.push(Diagnostic::at(
                file,
                spec.meta.id.referenced,
                format!(
                    "id `{id}` maps to tool name `{tool}`, which `{other_id}` ({other_file}) already uses; rename one of them"
                ),
            ));
        } else {
            seen.insert(tool, (file.as_str(), id.as_str()));
        }
    }
    out
}

struct Checker<'a> {
    file: &'a str,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn err<T>(&mut self, at: &Spanned<T>, msg: impl Into<String>) {
        self.out.push(Diagnostic::at(self.file, at.referenced, msg));
    }

    fn meta(&mut self, stem: &str, spec: &Spec) {
        let id = &spec.meta.id;
        if let Some(problem) = names::id_problem(&id.value) {
            self.err(id, problem);
        } else {
            let tool = names::tool_name(&id.value);
            if tool.len() > MAX_TOOL_NAME {
                self.err(
                    id,
                    format!(
                        "id `{}` gives tool name `{tool}` of {} characters; the limit is {MAX_TOOL_NAME}, so shorten the id",
                        id.value,
                        tool.len()
                    ),
                );
            }
            if stem != id.value {
                self.err(
                    id,
                    format!(
                        "the file is named `{stem}.yaml` but its id is `{}`; name the file `{}.yaml`",
                        id.value, id.value
                    ),
                );
            }
        }
        let v = &spec.meta.version;
        let parts: Vec<&str> = v.value.split('.').collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            self.err(
                v,
                format!(
                    "version `{}` is not MAJOR.MINOR.PATCH (for example 1.0.0)",
                    v.value
                ),
            );
        }
        for (what, s) in [
            ("title", &spec.meta.title),
            ("description", &spec.meta.description),
        ] {
            if s.value.trim().is_empty() {
                self.err(
                    s,
                    format!("meta.{what} is empty; models need it to pick the right tool"),
                );
            }
        }
    }

    fn fields(&mut self, fields: &Fields, side: Side, prefix: &str) {
        let mut seen_rust: BTreeMap<String, String> = BTreeMap::new();
        for (name, field) in &fields.0 {
            let full = format!("{prefix}{}", name.value);
            if !names::is_field_name(&name.value) {
                self.err(
                    name,
                    format!(
                        "field name `{}` must be snake_case: a lowercase letter, then lowercase letters, digits or `_`",
                        name.value
                    ),
                );
            }
            if let Some(prev) = seen_rust.insert(name.value.clone(), full.clone()) {
                self.err(
                    name,
                    format!("field `{full}` is declared twice (first as `{prev}`)"),
                );
            }
            self.field(&full, field, side);
        }
    }

    fn field(&mut self, name: &str, f: &Spanned<Field>, side: Side) {
        let fv = &f.value;
        let ty = fv.ty.value;
        if fv.description.value.trim().is_empty() {
            self.err(
                &fv.description,
                format!("field `{name}` has an empty description"),
            );
        }
        for m in [&fv.min, &fv.max].into_iter().flatten() {
            if !m.value.is_finite() {
                self.err(
                    m,
                    format!("`min` / `max` of `{name}` must be a finite number"),
                );
            } else if ty == FieldType::Integer && m.value.as_i64().is_none() {
                self.err(
                    m,
                    format!(
                        "`min` / `max` of the integer field `{name}` must be a whole number, not {}",
                        m.value
                    ),
                );
            }
        }
        let nested = name.contains('.') || name.contains("[]");
        if nested && fv.sensitive {
            self.err(f, format!("`{name}` is nested; `sensitive` applies to top-level inputs (mark the top-level input sensitive)"));
        }
        if fv.enum_values.is_some()
            && (fv.pattern.is_some() || fv.min_length.is_some() || fv.max_length.is_some())
        {
            self.err(&fv.ty, format!("`{name}` has an `enum`; `pattern` and lengths add nothing to a fixed list of values, so drop them"));
        }
        let is_num = matches!(ty, FieldType::Integer | FieldType::Number);
        let is_str = matches!(ty, FieldType::String);
        let has_len = matches!(ty, FieldType::String | FieldType::Array);
        if let Some(m) = &fv.min
            && !is_num
        {
            self.err(
                m,
                format!(
                    "`min` applies to integer and number fields, but `{name}` is {}",
                    ty.name()
                ),
            );
        }
        if let Some(m) = &fv.max
            && !is_num
        {
            self.err(
                m,
                format!(
                    "`max` applies to integer and number fields, but `{name}` is {}",
                    ty.name()
                ),
            );
        }
        if let (Some(lo), Some(hi)) = (&fv.min, &fv.max)
            && lo.value > hi.value
        {
            self.err(
                hi,
                format!(
                    "field `{name}` has max {} below its min {}",
                    hi.value, lo.value
                ),
            );
        }
        for l in [&fv.min_length, &fv.max_length].into_iter().flatten() {
            if !has_len {
                self.err(l, format!("`min_length` / `max_length` apply to string and array fields, but `{name}` is {}", ty.name()));
            }
        }
        if let (Some(lo), Some(hi)) = (&fv.min_length, &fv.max_length)
            && lo.value > hi.value
        {
            self.err(
                hi,
                format!(
                    "field `{name}` has max_length {} below its min_length {}",
                    hi.value, lo.value
                ),
            );
        }
        if let Some(p) = &fv.pattern {
            if !is_str {
                self.err(
                    p,
                    format!(
                        "`pattern` applies to string fields, but `{name}` is {}",
                        ty.name()
                    ),
                );
            } else if let Err(e) = regex::Regex::new(&p.value) {
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string();
                self.err(
                    p,
                    format!("`pattern` of `{name}` is not a valid regular expression: {first}"),
                );
            }
        }
        if let Some(e) = &fv.enum_values {
            if !is_str {
                self.err(
                    e,
                    format!(
                        "`enum` applies to string fields, but `{name}` is {}",
                        ty.name()
                    ),
                );
            } else if e.value.is_empty() {
                self.err(
                    e,
                    format!("`enum` of `{name}` is empty; list the allowed values"),
                );
            } else {
                let mut seen = BTreeMap::new();
                for v in &e.value {
                    let variant = names::pascal(v);
                    if variant.is_empty()
                        || !variant
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphabetic())
                    {
                        self.err(
                            e,
                            format!("enum value `{v}` of `{name}` must start with a letter"),
                        );
                    } else if variant == "Self" {
                        self.err(e, format!("enum value `{v}` of `{name}` would be the Rust keyword `Self`; choose another value"));
                    } else if let Some(prev) = seen.insert(variant, v.clone()) {
                        self.err(e, format!("enum values `{prev}` and `{v}` of `{name}` are too alike to tell apart; rename one"));
                    }
                }
            }
        }
        match (ty, &fv.items) {
            (FieldType::Array, None) => self.err(
                &fv.ty,
                format!("array field `{name}` needs `items` to describe its elements"),
            ),
            (FieldType::Array, Some(items)) => self.field(&format!("{name}[]"), items, side),
            (_, Some(items)) => self.err(
                items,
                format!(
                    "`items` applies to array fields, but `{name}` is {}",
                    ty.name()
                ),
            ),
            _ => {}
        }
        match (ty, &fv.properties) {
            (FieldType::Object, Some(props)) => {
                self.fields(&props.value, side, &format!("{name}."))
            }
            (FieldType::Object, None) | (_, None) => {}
            (_, Some(props)) => self.err(
                props,
                format!(
                    "`properties` applies to object fields, but `{name}` is {}",
                    ty.name()
                ),
            ),
        }
        let nested = name.contains('.') || name.matches("[]").count() > 1;
        if ty == FieldType::Path && side == Side::Input && nested {
            self.err(&fv.ty, format!("path field `{name}` is nested; paths may be top-level inputs or elements of a top-level array"));
        }
        if let Some(a) = &fv.access
            && (ty != FieldType::Path || side == Side::Output)
        {
            self.err(
                a,
                format!("`access` applies to path inputs, but `{name}` is not one"),
            );
        }
        if side == Side::Output {
            if let Some(d) = &fv.default {
                self.err(
                    d,
                    format!("output `{name}` has a default; defaults are for inputs"),
                );
            }
            if fv.sensitive {
                self.err(
                    f,
                    format!("output `{name}` is marked sensitive; `sensitive` is for inputs"),
                );
            }
            return;
        }
        let required = fv.required.as_ref().is_some_and(|r| r.value);
        if let Some(d) = &fv.default {
            if required {
                self.err(
                    d,
                    format!("input `{name}` is required and also has a default; drop one of them"),
                );
            }
            if let Some(problem) = default_problem(fv, &d.value) {
                self.err(d, format!("default of `{name}` {problem}"));
            }
        }
    }

    fn contracts(&mut self, spec: &Spec) {
        let c = &spec.contracts;
        let effects = &c.side_effects;
        if effects.value.is_empty() {
            self.err(
                effects,
                "side_effects is empty; declare at least `read_only`",
            );
        }
        let mut seen = Vec::new();
        for e in &effects.value {
            if seen.contains(&e.value) {
                self.err(
                    e,
                    format!("side effect `{}` is listed twice", e.value.as_str()),
                );
            }
            seen.push(e.value);
        }
        if seen.contains(&SideEffect::ReadOnly) && seen.len() > 1 {
            self.err(
                effects,
                "`read_only` cannot be combined with other side effects; list only the real ones",
            );
        }
        if c.timeout_seconds.value == 0 || c.timeout_seconds.value > 3600 {
            self.err(
                &c.timeout_seconds,
                "timeout_seconds must be between 1 and 3600",
            );
        }
        if let Some(unless) = &c.requires_confirmation_unless {
            let input = spec
                .interface
                .inputs
                .0
                .iter()
                .find(|(n, _)| n.value == unless.value);
            match input {
                None => self.err(
                    unless,
                    format!("requires_confirmation_unless names `{}`, which is not an input", unless.value),
                ),
                Some((_, f)) if f.value.ty.value != FieldType::Boolean => self.err(
                    unless,
                    format!(
                        "requires_confirmation_unless names `{}`, which is not a boolean input (a dry-run flag is)",
                        unless.value
                    ),
                ),
                Some(_) if !c.requires_confirmation => self.err(
                    unless,
                    "requires_confirmation_unless needs `requires_confirmation: true`",
                ),
                Some(_) => {}
            }
        }
        let has = |e: SideEffect| seen.contains(&e);
        let any_fs = has(SideEffect::FilesystemRead)
            || has(SideEffect::FilesystemWrite)
            || has(SideEffect::FilesystemDelete);
        for (name, f) in &spec.interface.inputs.0 {
            let Some(access) = f.value.path_access() else {
                continue;
            };
            let (needed, effect) = match access {
                Access::Read | Access::Inspect => (any_fs, "filesystem_read"),
                Access::Write => (has(SideEffect::FilesystemWrite), "filesystem_write"),
                Access::Delete => (has(SideEffect::FilesystemDelete), "filesystem_delete"),
            };
            if !needed {
                self.err(name, format!("path input `{}` needs side effect `{effect}`; add it to contracts.side_effects", name.value));
            }
        }
    }

    fn behavior(&mut self, spec: &Spec) {
        let b = &spec.behavior;
        let effects = spec.side_effects();
        let mutating: Vec<&str> = effects
            .iter()
            .filter(|e| e.is_mutating())
            .map(|e| e.as_str())
            .collect();
        match b.undo_strategy.value {
            UndoStrategy::None if !mutating.is_empty() => self.err(
                &b.undo_strategy,
                format!(
                    "undo_strategy is `none` but the side effect `{}` changes state; use `restore_from_backup` or, if it truly cannot be taken back, `irreversible`",
                    mutating[0]
                ),
            ),
            UndoStrategy::RestoreFromBackup | UndoStrategy::Irreversible if mutating.is_empty() => self.err(
                &b.undo_strategy,
                "this capability changes nothing, so its undo_strategy must be `none`",
            ),
            UndoStrategy::Journal
                if !effects.contains(&SideEffect::StateMutation) =>
            {
                self.err(&b.undo_strategy, "`journal` is for capabilities that move through the undo journal; they declare `state_mutation`")
            }
            UndoStrategy::RestoreFromBackup if b.undo_targets.is_empty() => self.err(
                &b.undo_strategy,
                "`restore_from_backup` needs undo_targets: the path inputs to snapshot before the call",
            ),
            _ => {}
        }
        if b.undo_strategy.value != UndoStrategy::RestoreFromBackup {
            if let Some(t) = b.undo_targets.first() {
                self.err(
                    t,
                    "undo_targets are used only with `undo_strategy: restore_from_backup`",
                );
            }
            return;
        }
        for t in &b.undo_targets {
            match spec.interface.inputs.get(&t.value) {
                Some(f) if f.value.path_access().is_some() => {}
                Some(f) => self.err(
                    t,
                    format!(
                        "undo target `{}` is a {} input, not a path input",
                        t.value,
                        f.value.ty.value.name()
                    ),
                ),
                None => self.err(
                    t,
                    format!(
                        "undo target `{}` is not an input of this capability",
                        t.value
                    ),
                ),
            }
        }
    }
}

/// Says why `v` is not a valid value for field `f`, if it is not.
fn default_problem(f: &Field, v: &Value) -> Option<String> {
    let ty = f.ty.value;
    let ok = match ty {
        FieldType::String | FieldType::Path | FieldType::Url | FieldType::Bytes => v.is_string(),
        FieldType::Integer => v.is_i64(),
        FieldType::Number => v.is_number(),
        FieldType::Boolean => v.is_boolean(),
        FieldType::Json => true,
        FieldType::Array => v.is_array(),
        FieldType::Object => v.is_object(),
    };
    if !ok {
        return Some(format!(
            "is {}, but the field is {}",
            describe(v),
            ty.name()
        ));
    }
    if let (Some(allowed), Some(s)) = (&f.enum_values, v.as_str())
        && !allowed.value.iter().any(|a| a == s)
    {
        return Some(format!(
            "`{s}` is not one of its enum values ({})",
            allowed.value.join(", ")
        ));
    }
    if let Some(n) = v.as_number().map(Bound::of_json) {
        if let Some(min) = &f.min
            && n < min.value
        {
            return Some(format!("{n} is below its min {}", min.value));
        }
        if let Some(max) = &f.max
            && n > max.value
        {
            return Some(format!("{n} is above its max {}", max.value));
        }
    }
    if ty == FieldType::Bytes
        && let Some(s) = v.as_str()
        && !is_base64(s)
    {
        return Some("is not valid base64".to_string());
    }
    if let (Some(props), Some(obj)) = (&f.properties, v.as_object()) {
        for key in obj.keys() {
            if props.value.get(key).is_none() {
                return Some(format!(
                    "has the key `{key}`, which is not one of its properties"
                ));
            }
        }
        for (pname, pf) in &props.value.0 {
            match obj.get(&pname.value) {
                Some(pv) => {
                    if let Some(p) = default_problem(&pf.value, pv) {
                        return Some(format!("has `{}` that {p}", pname.value));
                    }
                }
                None if pf.value.presence(Side::Input) == Presence::Required => {
                    return Some(format!("lacks the required property `{}`", pname.value));
                }
                None => {}
            }
        }
    }
    if let (FieldType::Array, Some(items), Some(arr)) = (ty, &f.items, v.as_array()) {
        for el in arr {
            if let Some(p) = default_problem(&items.value, el) {
                return Some(format!("has an element that {p}"));
            }
        }
    }
    None
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string \"{s}\""),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// True for standard, padded base64.
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    b.len().is_multiple_of(4)
        && b.iter().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric()
                || *c == b'+'
                || *c == b'/'
                || (*c == b'=' && i + 2 >= b.len())
        })
}

/// Every Rust type name a spec generates, for collision checks.
pub fn generated_type_names(spec: &Spec) -> Vec<String> {
    let base = names::type_stem(&spec.meta.id.value);
    let mut out = vec![
        names::params_type(&base),
        names::result_type(&base),
        names::ctx_type(&base),
        names::marker_type(&spec.meta.id.value),
    ];
    fn walk(fields: &Fields, hint: &str, out: &mut Vec<String>) {
        for (n, f) in &fields.0 {
            field_types(&f.value, &names::field_type(hint, &n.value), out);
        }
    }
    fn field_types(f: &Field, h: &str, out: &mut Vec<String>) {
        match f.ty.value {
            FieldType::String if f.enum_values.is_some() => out.push(h.to_string()),
            FieldType::Object => {
                if let Some(p) = &f.properties {
                    out.push(h.to_string());
                    walk(&p.value, h, out);
                }
            }
            FieldType::Array => {
                if let Some(items) = &f.items {
                    field_types(&items.value, &names::item_type(h), out);
                }
            }
            _ => {}
        }
    }
    walk(&spec.interface.inputs, &base, &mut out);
    walk(&spec.interface.outputs, &base, &mut out);
    out
}
