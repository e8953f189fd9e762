//! Rust emission: params / result types, the handler trait, the `Call` enum, the dispatch
//! `match` and the static catalog, formatted with prettyplease.

use crate::model::{
    Access, Bound, Field, FieldType, Fields, Presence, Side, SideEffect, Spec, UndoStrategy,
};
use crate::named::NamedTypes;
use crate::names::{self, ident, pascal, screaming, tool_name};
use crate::schema;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::BTreeMap;

/// A module in the generated tree (`io` -> `fs` -> items).
#[derive(Default)]
struct Module {
    children: BTreeMap<String, Module>,
    items: Vec<TokenStream>,
}

impl Module {
    fn at(&mut self, path: &[String]) -> &mut Module {
        let mut m = self;
        for seg in path {
            m = m.children.entry(seg.clone()).or_default();
        }
        m
    }

    fn tokens(&self) -> TokenStream {
        let items = &self.items;
        let children = self.children.iter().map(|(name, m)| {
            let id = ident(name);
            let inner = m.tokens();
            let doc = format!("Capabilities under `{name}`.");
            quote! {
                #[doc = #doc]
                pub mod #id {
                    #inner
                }
            }
        });
        quote! { #(#items)* #(#children)* }
    }
}

/// Everything the set-level code needs about one capability.
struct Entry {
    variant: proc_macro2::Ident,
    method: proc_macro2::Ident,
    module: TokenStream,
    params: proc_macro2::Ident,
    ctx: proc_macro2::Ident,
    result: proc_macro2::Ident,
    cap_static: proc_macro2::Ident,
    handler: proc_macro2::Ident,
    id: String,
    tool: String,
    doc: String,
    json_inputs: Vec<String>,
    /// The result's fields, for its [`into_output_tokens`] conversion.
    outputs: Vec<OutputField>,
}

/// One field of a result struct, as its conversion to JSON treats it.
struct OutputField {
    key: String,
    field: proc_macro2::Ident,
    /// Text or any JSON value: moved into the JSON as it is, never copied.
    moved: bool,
    optional: bool,
}

/// Generates the formatted Rust source for a set of specs (already checked, their shared
/// types resolved).
pub fn generate(specs: &[(String, Spec)], types: &NamedTypes) -> String {
    let mut root = Module::default();
    let mut shared = TypeGen {
        items: &mut root.items,
        root: quote! {},
    };
    for (name, def) in &types.0.0 {
        let values = def.value.enum_values.as_ref().map(|v| v.value.clone());
        shared.enum_def(
            &format_ident!("{}", name.value),
            &def.value.description.value,
            &values.unwrap_or_default(),
        );
    }
    let mut entries = Vec::new();
    let mut sorted: Vec<&(String, Spec)> = specs.iter().collect();
    sorted.sort_by(|a, b| a.1.meta.id.value.cmp(&b.1.meta.id.value));
    for (_, spec) in sorted {
        let id = spec.meta.id.value.clone();
        let segs: Vec<String> = id.split('.').map(str::to_string).collect();
        let (verb, path) = segs.split_last().expect("ids have two or more segments");
        let base = names::type_stem(&id);
        let mut items = Vec::new();
        let up = path.iter().map(|_| quote! { super:: });
        let mut types = TypeGen {
            items: &mut items,
            root: quote! { #(#up)* },
        };
        let (params_tokens, params) = types.params(spec, &base);
        let (result_tokens, result) = types.result(spec, &base);
        let ctx = format_ident!("{}", names::ctx_type(&base));
        let ctx_tokens = ctx_alias(spec, &ctx, &id);
        let cap_static = format_ident!("{}", screaming(verb));
        let cap_tokens = catalog_entry(spec, &cap_static);
        let module_items = root.at(path);
        module_items.items.extend(items);
        module_items.items.push(params_tokens);
        module_items.items.push(result_tokens);
        module_items.items.push(ctx_tokens);
        module_items.items.push(cap_tokens);
        let mod_path = path.iter().map(|s| ident(s));
        entries.push(Entry {
            variant: format_ident!("{}", pascal(&tool_name(&id))),
            method: format_ident!("{}", tool_name(&id)),
            module: quote! { #(#mod_path)::* },
            params,
            ctx,
            result,
            cap_static,
            handler: ident(verb),
            tool: tool_name(&id),
            json_inputs: spec
                .interface
                .inputs
                .0
                .iter()
                .filter(|(_, f)| f.value.ty.value == FieldType::Json)
                .map(|(n, _)| n.value.clone())
                .collect(),
            outputs: output_fields(&spec.interface.outputs),
            doc: format!(
                "`{id}`: {}. {}",
                spec.meta.title.value.trim(),
                spec.meta.description.value.trim()
            ),
            id,
        });
    }
    let modules = root.tokens();
    let set = set_tokens(&entries);
    // Last, so that adding them moved no line of what came before.
    let outputs = entries.iter().map(into_output_tokens);
    let file: syn::File =
        syn::parse2(quote! { #modules #set #(#outputs)* }).expect("generated code parses");
    let header = "// Generated by airun-codegen from the capability specs. Do not edit.\n\n";
    format!("{header}{}", prettyplease::unparse(&file))
}

/// How each output field goes into the result's JSON.
fn output_fields(outputs: &Fields) -> Vec<OutputField> {
    outputs
        .0
        .iter()
        .map(|(name, f)| {
            let f = &f.value;
            let text = matches!(
                f.ty.value,
                FieldType::String | FieldType::Url | FieldType::Path
            ) && f.enum_values.is_none();
            OutputField {
                key: name.value.clone(),
                field: ident(&name.value),
                moved: text || f.ty.value == FieldType::Json,
                optional: !f.presence(Side::Output).is_required(),
            }
        })
        .collect()
}

/// The result's conversion to JSON: the same object serde writes (fields in declaration
/// order, absent optional outputs left out), with text and JSON values moved in rather
/// than copied, which for a whole-file read is the size of the file.
fn into_output_tokens(e: &Entry) -> TokenStream {
    let (m, r) = (&e.module, &e.result);
    let inserts = e.outputs.iter().map(|o| {
        let (key, field) = (&o.key, &o.field);
        let value = if o.moved {
            quote! { ::core::convert::Into::<::airun::__private::serde_json::Value>::into(v) }
        } else {
            quote! { ::airun::__private::serde_json::to_value(v)? }
        };
        if o.optional {
            quote! {
                if let ::core::option::Option::Some(v) = self.#field {
                    m.insert(#key.into(), #value);
                }
            }
        } else {
            quote! {
                let v = self.#field;
                m.insert(#key.into(), #value);
            }
        }
    });
    quote! {
        impl ::airun::__private::IntoOutput for #m::#r {
            fn into_output(
                self,
            ) -> ::core::result::Result<
                ::airun::__private::serde_json::Value,
                ::airun::__private::serde_json::Error,
            > {
                let mut m = ::airun::__private::serde_json::Map::new();
                #(#inserts)*
                ::core::result::Result::Ok(::airun::__private::serde_json::Value::Object(m))
            }
        }
    }
}

fn ctx_alias(spec: &Spec, ctx: &proc_macro2::Ident, id: &str) -> TokenStream {
    let effects = spec.side_effects();
    let has = |e: SideEffect| effects.contains(&e);
    let fs_write = has(SideEffect::FilesystemWrite);
    let fs_delete = has(SideEffect::FilesystemDelete);
    let net_write = has(SideEffect::NetworkWrite);
    // Each power the declared side effects grant; writing or deleting files implies
    // reading them, sending over the network implies fetching.
    let powers = [
        (
            has(SideEffect::FilesystemRead) || fs_write || fs_delete,
            "FsRead",
        ),
        (fs_write, "FsWrite"),
        (fs_delete, "FsDelete"),
        (has(SideEffect::NetworkRead) || net_write, "NetRead"),
        (net_write, "NetWrite"),
        (has(SideEffect::SystemExec), "Exec"),
        (has(SideEffect::SystemRead), "SysRead"),
        (has(SideEffect::StateMutation), "StateMutation"),
    ];
    let marker = format_ident!("{}", names::marker_type(id));
    let impls = powers
        .iter()
        .filter(|(granted, _)| *granted)
        .map(|(_, power)| {
            let power = format_ident!("{power}");
            // Not listed as "other types implementing the power" in a compile error.
            quote! {
                #[diagnostic::do_not_recommend]
                impl ::airun::powers::#power for #marker {}
            }
        });
    let declared = effects
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let marker_doc = format!(
        "The powers of `{id}`: those its declared side effects ({declared}) grant, one trait each."
    );
    let doc = format!("The context `{id}` runs in: only the powers of [`{marker}`].");
    quote! {
        #[doc = #marker_doc]
        #[derive(Debug)]
        pub enum #marker {}
        #(#impls)*
        #[doc = #doc]
        pub type #ctx<'a> = ::airun::Ctx<'a, #marker>;
    }
}

struct TypeGen<'a> {
    items: &'a mut Vec<TokenStream>,
    /// The path from the module being generated to the root of the generated code, where
    /// the shared types are (`super::super::` for `io::fs`).
    root: TokenStream,
}

impl TypeGen<'_> {
    fn params(&mut self, spec: &Spec, base: &str) -> (TokenStream, proc_macro2::Ident) {
        let name = format_ident!("{}", names::params_type(base));
        let doc = format!("Inputs of `{}`.", spec.meta.id.value);
        let body = self.struct_def(&name, &doc, &spec.interface.inputs, true, base);
        let validate = validate_body(&spec.interface.inputs);
        let paths = paths_body(&spec.interface.inputs);
        // `requires_confirmation_unless: <flag>`: the call changes nothing when the flag is set.
        let changes_nothing = spec
            .contracts
            .requires_confirmation_unless
            .as_ref()
            .map(|u| {
                let flag = ident(&u.value);
                quote! {
                    fn changes_nothing(&self) -> bool {
                        self.#flag
                    }
                }
            });
        let tokens = quote! {
            #body
            impl ::airun::Params for #name {
                fn validate(&self) -> ::core::result::Result<(), ::airun::CapError> {
                    #validate
                    Ok(())
                }
                fn paths(&self) -> ::std::vec::Vec<::airun::PathInput<'_>> {
                    #paths
                }
                #changes_nothing
                fn to_json(&self) -> ::airun::__private::serde_json::Value {
                    ::airun::__private::serde_json::to_value(self).unwrap_or_default()
                }
            }
        };
        (tokens, name)
    }

    fn result(&mut self, spec: &Spec, base: &str) -> (TokenStream, proc_macro2::Ident) {
        let name = format_ident!("{}", names::result_type(base));
        let doc = format!("Outputs of `{}`.", spec.meta.id.value);
        let body = self.struct_def(&name, &doc, &spec.interface.outputs, false, base);
        (body, name)
    }

    /// A struct for a set of fields; nested enums and structs go to `self.items`.
    fn struct_def(
        &mut self,
        name: &proc_macro2::Ident,
        doc: &str,
        fields: &Fields,
        input: bool,
        base: &str,
    ) -> TokenStream {
        let mut defs = Vec::new();
        let mut defaults = Vec::new();
        for (fname, f) in &fields.0 {
            let f = &f.value;
            let fid = ident(&fname.value);
            let hint = names::field_type(base, &fname.value);
            let ty = self.rust_type(f, input, &hint);
            let hint = self.enum_path(f, &hint);
            let fdoc = f.description.value.trim().to_string();
            let presence = f.presence(Side::of(input));
            let def = if let (Presence::Defaulted, Some(d)) = (presence, &f.default) {
                let fn_name = format_ident!(
                    "default_{}_{}",
                    name.to_string().to_lowercase(),
                    fname.value
                );
                let fn_path = format!("{fn_name}");
                let value = default_expr(f, &d.value, &ty, &hint);
                defaults.push(quote! {
                    fn #fn_name() -> #ty { #value }
                });
                quote! {
                    #[doc = #fdoc]
                    #[serde(default = #fn_path)]
                    pub #fid: #ty,
                }
            } else if presence.is_required() {
                quote! {
                    #[doc = #fdoc]
                    pub #fid: #ty,
                }
            } else if input {
                quote! {
                    #[doc = #fdoc]
                    #[serde(default)]
                    pub #fid: ::core::option::Option<#ty>,
                }
            } else {
                quote! {
                    #[doc = #fdoc]
                    #[serde(default, skip_serializing_if = "Option::is_none")]
                    pub #fid: ::core::option::Option<#ty>,
                }
            };
            defs.push(def);
        }
        let deny = if input {
            quote! { #[serde(deny_unknown_fields)] }
        } else {
            quote! {}
        };
        quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, PartialEq, ::airun::__private::serde::Serialize, ::airun::__private::serde::Deserialize)]
            #[serde(crate = "::airun::__private::serde")]
            #deny
            pub struct #name {
                #(#defs)*
            }
            #(#defaults)*
        }
    }

    fn rust_type(&mut self, f: &Field, input: bool, hint: &str) -> TokenStream {
        match f.ty.value {
            FieldType::String => match &f.enum_values {
                Some(_) if f.named.is_some() => self.enum_path(f, hint),
                Some(values) => {
                    let name = format_ident!("{hint}");
                    self.enum_def(&name, &f.description.value, &values.value);
                    quote! { #name }
                }
                None => quote! { ::std::string::String },
            },
            FieldType::Url => quote! { ::std::string::String },
            FieldType::Path if input => quote! { ::airun::WsPath },
            FieldType::Path => quote! { ::std::string::String },
            FieldType::Integer => quote! { i64 },
            FieldType::Number => quote! { f64 },
            FieldType::Boolean => quote! { bool },
            FieldType::Bytes => quote! { ::airun::Bytes },
            FieldType::Json => quote! { ::airun::__private::serde_json::Value },
            FieldType::Array => {
                let inner = match &f.items {
                    Some(items) => self.rust_type(&items.value, input, &names::item_type(hint)),
                    None => quote! { ::airun::__private::serde_json::Value },
                };
                quote! { ::std::vec::Vec<#inner> }
            }
            FieldType::Object => match &f.properties {
                Some(props) => {
                    let name = format_ident!("{hint}");
                    let doc = f.description.value.trim().to_string();
                    let def = self.struct_def(&name, &doc, &props.value, input, hint);
                    self.items.push(def);
                    quote! { #name }
                }
                None => quote! {
                    ::airun::__private::serde_json::Map<::std::string::String, ::airun::__private::serde_json::Value>
                },
            },
        }
    }

    /// The path of the enum type of a string field with values: its shared type when it
    /// names one, else `hint`, generated beside it.
    fn enum_path(&self, f: &Field, hint: &str) -> TokenStream {
        match &f.named {
            Some(name) => {
                let (root, name) = (&self.root, format_ident!("{}", name.value));
                quote! { #root #name }
            }
            None => {
                let name = format_ident!("{hint}");
                quote! { #name }
            }
        }
    }

    fn enum_def(&mut self, name: &proc_macro2::Ident, doc: &str, values: &[String]) {
        let variants = values.iter().map(|v| {
            let var = format_ident!("{}", pascal(v));
            let vdoc = format!("`{v}`");
            quote! {
                #[doc = #vdoc]
                #[serde(rename = #v)]
                #var,
            }
        });
        let arms = values.iter().map(|v| {
            let var = format_ident!("{}", pascal(v));
            quote! { #name::#var => #v, }
        });
        let doc = doc.trim().to_string();
        self.items.push(quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, ::airun::__private::serde::Serialize, ::airun::__private::serde::Deserialize)]
            #[serde(crate = "::airun::__private::serde")]
            pub enum #name {
                #(#variants)*
            }
            impl #name {
                /// The value as written in the spec and on the wire.
                pub fn as_str(self) -> &'static str {
                    match self {
                        #(#arms)*
                    }
                }
            }
        });
    }
}

fn default_expr(
    f: &Field,
    v: &serde_json::Value,
    ty: &TokenStream,
    enum_path: &TokenStream,
) -> TokenStream {
    match (f.ty.value, v) {
        (FieldType::String, serde_json::Value::String(s)) if f.enum_values.is_some() => {
            let var = format_ident!("{}", pascal(s));
            quote! { #enum_path::#var }
        }
        (FieldType::String | FieldType::Url, serde_json::Value::String(s)) => {
            quote! { ::std::string::String::from(#s) }
        }
        (FieldType::Path, serde_json::Value::String(s)) => {
            quote! { ::airun::WsPath::from_spec(#s) }
        }
        (FieldType::Integer, v) => {
            let n = v.as_i64().unwrap_or_default();
            quote! { #n }
        }
        (FieldType::Number, v) => {
            let n = v.as_f64().unwrap_or_default();
            quote! { #n }
        }
        (FieldType::Boolean, serde_json::Value::Bool(b)) => quote! { #b },
        _ => {
            let text = v.to_string();
            quote! { ::airun::__private::spec_default::<#ty>(#text) }
        }
    }
}

fn validate_body(inputs: &Fields) -> TokenStream {
    let mut checks = Vec::new();
    for (name, f) in &inputs.0 {
        let f = &f.value;
        let fname = &name.value;
        let fid = ident(fname);
        let Some(inner) = field_checks(f, quote! { #fname }, 0) else {
            continue;
        };
        let required = f.presence(Side::Input).always_present();
        if required {
            checks.push(quote! { { let v = &self.#fid; #inner } });
        } else {
            checks.push(quote! { if let Some(v) = &self.#fid { #inner } });
        }
    }
    quote! { #(#checks)* }
}

/// The constraint checks of one field, with `v` bound to a reference to its value and
/// `name` an expression giving the field's shown name (`edits[2].old_text` when nested).
fn field_checks(f: &Field, name: TokenStream, depth: usize) -> Option<TokenStream> {
    let mut inner = Vec::new();
    if let Some(min) = &f.min {
        let m = bound_tokens(f, min.value);
        inner.push(quote! {
            if *v < #m {
                return Err(::airun::CapError::invalid_field(#name, format!("must be at least {}, got {}", #m, v)));
            }
        });
    }
    if let Some(max) = &f.max {
        let m = bound_tokens(f, max.value);
        inner.push(quote! {
            if *v > #m {
                return Err(::airun::CapError::invalid_field(#name, format!("must be at most {}, got {}", #m, v)));
            }
        });
    }
    let len = if f.ty.value == FieldType::Array {
        quote! { v.len() }
    } else {
        quote! { v.chars().count() }
    };
    let unit = if f.ty.value == FieldType::Array {
        "elements"
    } else {
        "characters"
    };
    if let Some(min) = &f.min_length {
        let m = min.value as usize;
        inner.push(quote! {
            if #len < #m {
                return Err(::airun::CapError::invalid_field(#name, format!("must have at least {} {}, got {}", #m, #unit, #len)));
            }
        });
    }
    if let Some(max) = &f.max_length {
        let m = max.value as usize;
        inner.push(quote! {
            if #len > #m {
                return Err(::airun::CapError::invalid_field(#name, format!("must have at most {} {}, got {}", #m, #unit, #len)));
            }
        });
    }
    if let Some(p) = &f.pattern {
        let anchored = format!("^(?:{})$", p.value);
        let shown = p.value.clone();
        inner.push(quote! {
            static RE: ::std::sync::LazyLock<::airun::__private::regex::Regex> =
                ::std::sync::LazyLock::new(|| ::airun::__private::compile_spec_pattern(#anchored));
            if !RE.is_match(v) {
                return Err(::airun::CapError::invalid_field(#name, format!("must match the pattern {}", #shown)));
            }
        });
    }
    let sub = format_ident!("__name{}", depth + 1);
    if let (FieldType::Array, Some(items)) = (f.ty.value, &f.items)
        && let Some(c) = field_checks(&items.value, quote! { &#sub }, depth + 1)
    {
        inner.push(quote! {
            for (i, v) in v.iter().enumerate() {
                let #sub = format!("{}[{}]", #name, i);
                #c
            }
        });
    }
    if let (FieldType::Object, Some(props)) = (f.ty.value, &f.properties) {
        for (pname, pf) in &props.value.0 {
            let pf = &pf.value;
            let pid = ident(&pname.value);
            let pstr = &pname.value;
            let Some(c) = field_checks(pf, quote! { &#sub }, depth + 1) else {
                continue;
            };
            let required = pf.presence(Side::Input).always_present();
            let label = syn::Lifetime::new(
                &format!("'check{}", depth + 1),
                proc_macro2::Span::call_site(),
            );
            // An optional property without a value has nothing to check.
            let bind = if required {
                quote! { let v = &v.#pid; }
            } else {
                quote! { let Some(v) = &v.#pid else { break #label; }; }
            };
            inner.push(if required {
                quote! {
                    {
                        let #sub = format!("{}.{}", #name, #pstr);
                        #bind
                        #c
                    }
                }
            } else {
                quote! {
                    #label: {
                        let #sub = format!("{}.{}", #name, #pstr);
                        #bind
                        #c
                    }
                }
            });
        }
    }
    if inner.is_empty() {
        None
    } else {
        Some(quote! { #(#inner)* })
    }
}

/// A bound as a literal of the field's own type: integers compare as `i64`, numbers as `f64`.
fn bound_tokens(f: &Field, b: Bound) -> TokenStream {
    match (f.ty.value, b.as_i64()) {
        (FieldType::Integer, Some(i)) => quote! { #i },
        _ => {
            let x = b.as_f64();
            quote! { #x }
        }
    }
}

fn access_tokens(a: Access) -> TokenStream {
    let v = format_ident!("{}", a.variant());
    quote! { ::airun::Access::#v }
}

fn paths_body(inputs: &Fields) -> TokenStream {
    let mut pushes = Vec::new();
    for (name, f) in &inputs.0 {
        let f = &f.value;
        let is_path = f.ty.value == FieldType::Path;
        let Some(access) = f.path_access() else {
            continue;
        };
        let fname = &name.value;
        let fid = ident(fname);
        let access = access_tokens(access);
        let required = f.presence(Side::Input).always_present();
        let push =
            quote! { out.push(::airun::PathInput { field: #fname, path: p, access: #access }); };
        pushes.push(match (is_path, required) {
            (true, true) => quote! { { let p = &self.#fid; #push } },
            (true, false) => quote! { if let Some(p) = &self.#fid { #push } },
            (false, true) => quote! { for p in &self.#fid { #push } },
            (false, false) => quote! { for p in self.#fid.iter().flatten() { #push } },
        });
    }
    if pushes.is_empty() {
        return quote! { ::std::vec::Vec::new() };
    }
    quote! {
        let mut out = ::std::vec::Vec::new();
        #(#pushes)*
        out
    }
}

fn catalog_entry(spec: &Spec, name: &proc_macro2::Ident) -> TokenStream {
    let id = &spec.meta.id.value;
    let tool = tool_name(id);
    let version = &spec.meta.version.value;
    let title = spec.meta.title.value.trim();
    let description = spec.meta.description.value.trim();
    let effects = spec.side_effects();
    let effect_tokens = effects.iter().map(|e| {
        let v = format_ident!("{}", e.variant());
        quote! { ::airun::SideEffect::#v }
    });
    let c = &spec.contracts;
    let confirm = c.requires_confirmation;
    let unless = match &c.requires_confirmation_unless {
        Some(flag) => {
            let flag = flag.value.as_str();
            quote! { ::core::option::Option::Some(#flag) }
        }
        None => quote! { ::core::option::Option::None },
    };
    let idempotent = c.idempotent;
    let timeout = c.timeout_seconds.value;
    let undo = format_ident!("{}", spec.behavior.undo_strategy.value.variant());
    let targets: Vec<&str> = spec
        .behavior
        .undo_targets
        .iter()
        .map(|t| t.value.as_str())
        .collect();
    let input_schema = schema::raw_literal(&schema::input_schema(&spec.interface.inputs));
    let output_schema = schema::raw_literal(&schema::output_schema(&spec.interface.outputs));
    let (strict, encoded) = schema::openai_strict(&spec.interface.inputs);
    let strict = schema::raw_literal(&strict);
    let sensitive: Vec<&str> = spec
        .interface
        .inputs
        .0
        .iter()
        .filter(|(_, f)| f.value.sensitive)
        .map(|(n, _)| n.value.as_str())
        .collect();
    let path_inputs = spec.interface.inputs.0.iter().filter_map(|(n, f)| {
        let f = &f.value;
        let access = access_tokens(f.path_access()?);
        let name = n.value.as_str();
        Some(quote! { (#name, #access) })
    });
    let mutating = effects.iter().any(|e| e.is_mutating());
    let read_only = !mutating;
    let destructive = match &c.destructive {
        Some(d) => d.value,
        None => effects.iter().any(|e| {
            matches!(
                e,
                SideEffect::FilesystemWrite
                    | SideEffect::FilesystemDelete
                    | SideEffect::SystemExec
                    | SideEffect::NetworkWrite
            )
        }),
    };
    let open_world = effects
        .iter()
        .any(|e| matches!(e, SideEffect::NetworkRead | SideEffect::NetworkWrite));
    let _ = UndoStrategy::None;
    let doc = format!("Catalog entry of `{id}`.");
    quote! {
        #[doc = #doc]
        pub static #name: ::airun::Capability = ::airun::Capability {
            id: #id,
            tool_name: #tool,
            version: #version,
            title: #title,
            description: #description,
            side_effects: &[#(#effect_tokens),*],
            requires_confirmation: #confirm,
            confirmation_unless: #unless,
            idempotent: #idempotent,
            undo_strategy: ::airun::UndoStrategy::#undo,
            undo_targets: &[#(#targets),*],
            timeout_seconds: #timeout,
            input_schema: ::airun::Schema::generated(#input_schema),
            output_schema: ::airun::Schema::generated(#output_schema),
            openai_strict_schema: ::airun::Schema::generated(#strict),
            openai_json_inputs: &[#(#encoded),*],
            sensitive_inputs: &[#(#sensitive),*],
            path_inputs: &[#(#path_inputs),*],
            annotations: ::airun::Annotations {
                read_only: #read_only,
                destructive: #destructive,
                idempotent: #idempotent,
                open_world: #open_world,
            },
        };
    }
}

fn set_tokens(entries: &[Entry]) -> TokenStream {
    let variants = entries.iter().map(|e| {
        let (v, m, p, doc) = (&e.variant, &e.module, &e.params, &e.doc);
        quote! {
            #[doc = #doc]
            #v(#m::#p),
        }
    });
    let parse_arms = entries.iter().map(|e| {
        let (v, id, tool, keep) = (&e.variant, &e.id, &e.tool, &e.json_inputs);
        quote! {
            #id | #tool => Ok(Call::#v(::airun::__private::parse_params(args, &[#(#keep),*])?)),
        }
    });
    let cap_arms = entries.iter().map(|e| {
        let (v, m, c) = (&e.variant, &e.module, &e.cap_static);
        quote! { Call::#v(_) => &#m::#c, }
    });
    let params_arms = entries.iter().map(|e| {
        let v = &e.variant;
        quote! { Call::#v(p) => p, }
    });
    let catalog = entries.iter().map(|e| {
        let (m, c) = (&e.module, &e.cap_static);
        quote! { &#m::#c }
    });
    let methods = entries.iter().map(|e| {
        let (method, m, p, ctx, r, doc) =
            (&e.method, &e.module, &e.params, &e.ctx, &e.result, &e.doc);
        quote! {
            #[doc = #doc]
            fn #method(
                &self,
                ctx: &mut #m::#ctx<'_>,
                params: #m::#p,
            ) -> ::core::result::Result<#m::#r, ::airun::CapError>;
        }
    });
    let dispatch_arms = entries.iter().map(|e| {
        let (v, method) = (&e.variant, &e.method);
        quote! {
            Call::#v(p) => ::airun::__private::to_output(self.0.#method(&mut ::airun::Ctx::grant(env), p)),
        }
    });
    let routes = entries.iter().map(|e| {
        let (method, m, p, ctx, r, f) = (
            &e.method, &e.module, &e.params, &e.ctx, &e.result, &e.handler,
        );
        quote! {
            fn #method(
                &self,
                ctx: &mut #m::#ctx<'_>,
                params: #m::#p,
            ) -> ::core::result::Result<#m::#r, ::airun::CapError> {
                $($root)::+::#m::#f(ctx, params)
            }
        }
    });
    // One arm per namespace: the verbs' modules and their functions, for the namespace's
    // `mod.rs` to declare with one macro call.
    let mut namespaces: Vec<(String, TokenStream, Vec<&proc_macro2::Ident>)> = Vec::new();
    for e in entries {
        let key = e.module.to_string();
        match namespaces.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, verbs)) => verbs.push(&e.handler),
            None => namespaces.push((key, e.module.clone(), vec![&e.handler])),
        }
    }
    let module_arms = namespaces.iter().map(|(_, m, verbs)| {
        quote! {
            (#m) => { #( mod #verbs; pub use self::#verbs::#verbs; )* };
        }
    });
    let count = entries.len();
    quote! {
        /// Every capability in this set, in id order.
        pub static CATALOG: [&::airun::Capability; #count] = [#(#catalog),*];

        /// One typed call of any capability in the set.
        #[derive(Debug, Clone)]
        pub enum Call {
            #(#variants)*
        }

        impl Call {
            /// Parses a call from a dotted id or a tool name and its JSON arguments.
            pub fn parse(
                name: &str,
                args: ::airun::__private::serde_json::Value,
            ) -> ::core::result::Result<Call, ::airun::CapError> {
                match name {
                    #(#parse_arms)*
                    _ => Err(::airun::CapError::unknown_capability(name, &CATALOG)),
                }
            }
        }

        impl ::airun::CallInfo for Call {
            fn capability(&self) -> &'static ::airun::Capability {
                match self {
                    #(#cap_arms)*
                }
            }
            fn params(&self) -> &dyn ::airun::Params {
                match self {
                    #(#params_arms)*
                }
            }
        }

        /// The handler bodies of this set: one method per capability. A capability without
        /// its method does not compile.
        pub trait Handlers: Send + Sync + 'static {
            #(#methods)*
        }

        /// Implements [`Handlers`] for a type by routing each capability `a.b.verb` to the
        /// function `<root>::a::b::verb(ctx, params)`, so a capability is one spec and one
        /// function. Invoke it inside the module that includes this file:
        /// `route_handlers!(super::MyHandlers => crate::my_handlers);`.
        #[allow(unused_macros)]
        macro_rules! route_handlers {
            ($handlers:ty => $($root:ident)::+) => {
                impl Handlers for $handlers {
                    #(#routes)*
                }
            };
        }

        /// Declares the verbs of one namespace for the routing above: invoked once in the
        /// namespace's `mod.rs` as `capability_modules!(a::b);`, it declares `mod verb;` (the
        /// file `verb.rs` beside that `mod.rs`) and re-exports `verb::verb` for every
        /// capability `a.b.verb`, so a new capability needs no declaration by hand.
        #[allow(unused_macros)]
        macro_rules! capability_modules {
            #(#module_arms)*
        }
        #[allow(unused_imports)]
        pub(crate) use capability_modules;

        /// The capability set: the catalog, the parser and the dispatch over a [`Handlers`] value.
        pub struct Capabilities<H>(pub H);

        impl<H: Handlers> ::airun::CapabilitySet for Capabilities<H> {
            type Call = Call;

            fn catalog(&self) -> &'static [&'static ::airun::Capability] {
                &CATALOG
            }

            fn parse(
                &self,
                name: &str,
                args: ::airun::__private::serde_json::Value,
            ) -> ::core::result::Result<Call, ::airun::CapError> {
                Call::parse(name, args)
            }

            fn dispatch(
                &self,
                call: Call,
                env: &::airun::Env<'_>,
            ) -> ::core::result::Result<::airun::__private::serde_json::Value, ::airun::CapError> {
                match call {
                    #(#dispatch_arms)*
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The generated code of airun's own `sys.undo` and `sys.history` specs.
    fn generated_sys() -> String {
        let specs = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
            .join("../specs");
        let files: Vec<(String, String)> = ["sys.undo.yaml", "sys.history.yaml"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(specs.join(name))
                    .unwrap_or_else(|e| panic!("cannot read specs/{name}: {e}"));
                (format!("specs/{name}"), text)
            })
            .collect();
        crate::generate(&files).unwrap_or_else(|d| panic!("the specs are valid: {d:?}"))
    }

    fn powers_of(code: &str, marker: &str) -> Vec<String> {
        let suffix = format!(" for {marker} {{}}");
        code.lines()
            .filter_map(|l| l.trim().strip_suffix(suffix.as_str()))
            .filter_map(|l| l.strip_prefix("impl ::airun::powers::"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn each_declared_side_effect_grants_its_power_and_nothing_else() {
        let code = generated_sys();
        // `sys.undo` declares filesystem_write, filesystem_delete and state_mutation:
        // state mutation no longer brings the system-facts power with it.
        assert_eq!(
            powers_of(&code, "SysUndo"),
            ["FsRead", "FsWrite", "FsDelete", "StateMutation"]
        );
        assert_eq!(powers_of(&code, "SysHistory"), ["SysRead"]);
        assert!(code.contains("pub type UndoCtx<'a> = ::airun::Ctx<'a, SysUndo>;"));
    }
}
