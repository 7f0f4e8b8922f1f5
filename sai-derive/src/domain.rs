//! `#[derive(Domain)]`: parse → validate → lower → generate.

use darling::util::SpannedValue;
use darling::{FromDeriveInput, FromField, FromMeta};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::diagnostics::error;
use crate::sql_ident::{
    MAX_DOMAIN_NAME, MAX_IDENT, RESERVED_COLUMNS, snake_case, suggest, unsafe_reason,
};

#[derive(FromDeriveInput)]
#[darling(attributes(domain), forward_attrs(doc))]
struct DomainInput {
    ident: syn::Ident,
    vis: syn::Visibility,
    generics: syn::Generics,
    data: darling::ast::Data<darling::util::Ignored, FieldInput>,
    /// Table prefix; defaults to the struct name in snake case.
    name: Option<SpannedValue<String>>,
    /// The domain's own machine.
    machine: Option<syn::Path>,
    /// Columns of removed fields that a migration drops.
    #[darling(default)]
    dropped: Vec<syn::LitStr>,
    /// Entities shared with members (`#[domain(shared)]`).
    #[darling(default)]
    shared: bool,
}

#[derive(FromField)]
#[darling(attributes(domain))]
struct FieldInput {
    ident: Option<syn::Ident>,
    ty: syn::Type,
    /// SQL column name; defaults to the field name.
    column: Option<SpannedValue<String>>,
    /// Store the field as JSON text.
    #[darling(default)]
    json: bool,
    /// The column's previous name.
    was: Option<SpannedValue<String>>,
    /// The value existing rows take when a migration adds the column.
    default: Option<SpannedValue<DefaultSpec>>,
}

/// `#[domain(default)]` or `#[domain(default = expr)]`.
#[derive(Clone)]
enum DefaultSpec {
    /// The type's `Default`.
    OfType,
    /// An expression of the field's type (a string literal converts with `Into`).
    Expr(Box<syn::Expr>),
}

impl FromMeta for DefaultSpec {
    fn from_word() -> darling::Result<Self> {
        Ok(DefaultSpec::OfType)
    }

    // Taken as written: darling's own `syn::Expr` would parse a string literal's contents.
    fn from_expr(expr: &syn::Expr) -> darling::Result<Self> {
        Ok(DefaultSpec::Expr(Box::new(expr.clone())))
    }
}

/// The validated model the generator works from.
struct Model {
    ident: syn::Ident,
    vis: syn::Visibility,
    name: String,
    machine: Option<syn::Path>,
    fields: Vec<Field>,
    dropped: Vec<String>,
    shared: bool,
}

struct Field {
    ident: syn::Ident,
    ty: syn::Type,
    column: String,
    json: bool,
    was: Option<(String, proc_macro2::Span)>,
    default: Option<DefaultSpec>,
}

pub fn expand(input: TokenStream) -> TokenStream {
    let derive_input: syn::DeriveInput = match syn::parse2(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    match DomainInput::from_derive_input(&derive_input).and_then(validate) {
        Ok(model) => generate(&model),
        Err(errors) => {
            let errors = errors.write_errors();
            let stub = stub(&derive_input);
            quote! { #errors #stub }
        }
    }
}

/// After an error: a `Domain` impl with no columns, so that the machine naming this domain
/// sees no second error. It names the declared machine when there is one.
fn stub(input: &syn::DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    let machine = input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("domain"))
        .find_map(|a| {
            let mut found = None;
            let _ = a.parse_nested_meta(|meta| {
                if meta.path.is_ident("machine") {
                    found = Some(meta.value()?.parse::<syn::Path>()?);
                } else if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                }
                Ok(())
            });
            found
        })
        .map(|p| quote! { #p });
    let (machine, (bound, check)) = match machine {
        Some(machine) => {
            let link = machine_link(ident, &machine);
            (machine, link)
        }
        None => (
            quote! { ::sai::__private::NoMachine<Self> },
            Default::default(),
        ),
    };
    quote! {
        const _: () = {
            #check
            #[automatically_derived]
            impl ::sai::Domain for #ident #bound {
                const NAME: &'static str = "";
                const COLUMNS: &'static [::sai::ColumnDef] = &[];
                type Machine = #machine;
                fn to_row(&self) -> ::sai::__private::Result<::sai::__private::Vec<::sai::SqlValue>, ::sai::RowError> {
                    ::core::unreachable!()
                }
                fn from_row(_: ::sai::__private::Vec<::sai::SqlValue>) -> ::sai::__private::Result<Self, ::sai::RowError> {
                    ::core::unreachable!()
                }
            }
        };
    }
}

fn validate(input: DomainInput) -> darling::Result<Model> {
    let mut errors = darling::Error::accumulator();
    let ident = input.ident;
    if !input.generics.params.is_empty() {
        errors.push(error(
            input.generics.span(),
            "a domain cannot be generic",
            "a domain is stored in tables of fixed shape; remove the type parameters",
        ));
    }
    let name = match &input.name {
        Some(n) => (n.as_str().to_owned(), n.span()),
        None => (snake_case(&ident.to_string()), ident.span()),
    };
    if let Some(why) = unsafe_reason(&name.0, MAX_DOMAIN_NAME) {
        errors.push(error(
            name.1,
            format!("domain name `{}` is not a safe SQL identifier: {why}", name.0),
            format!(
                "use lower-case snake case of at most {MAX_DOMAIN_NAME} bytes, e.g. `#[domain(name = \"{}\")]`",
                suggest(&name.0, MAX_DOMAIN_NAME)
            ),
        ));
    }
    let machine = input.machine.clone();
    if machine.is_none() {
        errors.push(error(
            ident.span(),
            format!("domain `{ident}` has no machine"),
            format!("name its state machine: `#[domain(machine = {ident}Machine)]`"),
        ));
    }
    let mut fields = Vec::new();
    match input.data {
        darling::ast::Data::Struct(s) if s.style == darling::ast::Style::Struct => {
            if s.fields.is_empty() {
                errors.push(error(
                    ident.span(),
                    format!("domain `{ident}` has no fields"),
                    "add the entity's fields; they become the projection's columns",
                ));
            }
            for f in s.fields {
                if let Some(field) = errors.handle(validate_field(f)) {
                    fields.push(field);
                }
            }
        }
        _ => errors.push(error(
            ident.span(),
            "a domain must be a struct with named fields",
            format!(
                "write `struct {ident} {{ title: String, … }}`: each named field becomes a column"
            ),
        )),
    }
    let mut seen: Vec<&Field> = Vec::new();
    for f in &fields {
        if let Some(first) = seen.iter().find(|s| s.column == f.column) {
            errors.push(error(
                f.ident.span(),
                format!(
                    "column `{}` is already used by field `{}`",
                    f.column, first.ident
                ),
                "give one of them another name with `#[domain(column = \"…\")]`",
            ));
        }
        seen.push(f);
    }
    for (i, f) in fields.iter().enumerate() {
        let Some((was, span)) = &f.was else { continue };
        if RESERVED_COLUMNS.contains(&was.as_str()) {
            errors.push(error(
                *span,
                format!("`was` names `{was}`, a column sai keeps in every projection"),
                "`was` is the previous name of this field's own column; sai's columns are never renamed",
            ));
        } else if let Some(other) = fields.iter().find(|o| &o.column == was) {
            let (message, help) = if other.ident == f.ident {
                (
                    format!("`was` names the field's own column `{was}`"),
                    "`was` is the column's previous name, for a rename; remove it if the column keeps its name".to_owned(),
                )
            } else {
                (
                    format!(
                        "`was` names column `{was}`, which field `{}` uses",
                        other.ident
                    ),
                    format!(
                        "a field can only take over a column no field uses any more; rename field `{}`'s column first, in another release",
                        other.ident
                    ),
                )
            };
            errors.push(error(*span, message, help));
        } else if let Some(earlier) = fields[..i]
            .iter()
            .find(|o| o.was.as_ref().is_some_and(|(w, _)| w == was))
        {
            errors.push(error(
                *span,
                format!(
                    "`was = \"{was}\"` is declared by field `{}` too",
                    earlier.ident
                ),
                "one column can be renamed into one field only; remove one of the two `was`",
            ));
        }
    }
    let mut dropped = Vec::new();
    for lit in &input.dropped {
        let column = lit.value();
        if let Some(why) = unsafe_reason(&column, MAX_IDENT) {
            errors.push(error(
                lit.span(),
                format!("dropped column `{column}` is not a safe SQL identifier: {why}"),
                "name the column as the table spells it (lower-case snake case)",
            ));
        } else if let Some(f) = fields
            .iter()
            .find(|f| f.column == column || f.was.as_ref().is_some_and(|(w, _)| *w == column))
        {
            errors.push(error(
                lit.span(),
                format!(
                    "column `{column}` is dropped but field `{}` still uses it",
                    f.ident
                ),
                "only list columns of removed fields in `dropped`",
            ));
        } else if RESERVED_COLUMNS.contains(&column.as_str()) {
            errors.push(error(
                lit.span(),
                format!("column `{column}` is reserved by sai and cannot be dropped"),
                "only list columns of removed fields in `dropped`",
            ));
        }
        dropped.push(column);
    }
    errors.finish_with(Model {
        ident,
        vis: input.vis,
        name: name.0,
        machine,
        fields,
        dropped,
        shared: input.shared,
    })
}

/// Whether `ty` is spelled `Option<…>` (the derive sees tokens, not types).
fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

fn validate_field(f: FieldInput) -> darling::Result<Field> {
    let ident = f.ident.expect("named fields have idents");
    let (column, span) = match &f.column {
        Some(c) => (c.as_str().to_owned(), c.span()),
        None => (
            ident.to_string().trim_start_matches("r#").to_owned(),
            ident.span(),
        ),
    };
    if let Some(why) = unsafe_reason(&column, MAX_IDENT) {
        return Err(error(
            span,
            format!("column name `{column}` is not a safe SQL identifier: {why}"),
            format!(
                "rename the column with `#[domain(column = \"{}\")]` (lower-case snake case)",
                suggest(&column, MAX_IDENT)
            ),
        ));
    }
    if RESERVED_COLUMNS.contains(&column.as_str()) {
        return Err(error(
            span,
            format!("column `{column}` is reserved by sai"),
            format!(
                "sai keeps `{}` in every projection; rename the field, or its column with `#[domain(column = \"{column}_\")]`",
                RESERVED_COLUMNS.join("`, `"),
            ),
        ));
    }
    let was = match &f.was {
        Some(w) => {
            if let Some(why) = unsafe_reason(w, MAX_IDENT) {
                return Err(error(
                    w.span(),
                    format!(
                        "previous column name `{}` is not a safe SQL identifier: {why}",
                        w.as_str()
                    ),
                    "name the column as the table spells it (lower-case snake case)",
                ));
            }
            Some((w.as_str().to_owned(), w.span()))
        }
        None => None,
    };
    let default = match &f.default {
        Some(d) if is_option(&f.ty) => {
            return Err(error(
                d.span(),
                format!("field `{ident}` is an `Option` and cannot declare a default"),
                "existing rows of a new `Option` field read `None`; remove `default`, or make the field non-`Option`",
            ));
        }
        Some(d) => Some((**d).clone()),
        None => None,
    };
    Ok(Field {
        ident,
        ty: f.ty,
        column,
        json: f.json,
        was,
        default,
    })
}

fn generate(m: &Model) -> TokenStream {
    let Model {
        ident,
        vis,
        name,
        machine,
        fields,
        dropped,
        shared,
    } = m;
    let columns = fields.iter().map(|f| {
        let (col, field, ty) = (&f.column, f.ident.to_string(), &f.ty);
        let was = match &f.was {
            Some((w, _)) => quote! { ::sai::__private::Some(#w) },
            None => quote! { ::sai::__private::None },
        };
        let default = default_of(f);
        if f.json {
            quote! {
                ::sai::ColumnDef { name: #col, field: #field, ty: ::sai::ColumnType::Text, nullable: false, json: true, was: #was, default: #default }
            }
        } else {
            quote_spanned! {ty.span()=>
                ::sai::ColumnDef {
                    name: #col,
                    field: #field,
                    ty: <#ty as ::sai::ColumnValue>::COLUMN_TYPE,
                    nullable: <#ty as ::sai::ColumnValue>::NULLABLE,
                    json: false,
                    was: #was,
                    default: #default,
                }
            }
        }
    });
    let dropped = (!dropped.is_empty()).then(|| {
        quote! { const DROPPED: &'static [&'static str] = &[#(#dropped),*]; }
    });
    let shared = shared.then(|| quote! { const SHARED: bool = true; });
    let column_error = |col: &str| {
        quote! { |source| ::sai::RowError::Column { domain: #name, column: #col, source } }
    };
    let encode = fields.iter().map(|f| {
        let (fid, ty) = (&f.ident, &f.ty);
        if f.json {
            let err = column_error(&f.column);
            let encode = quote_spanned! {ty.span()=> ::sai::__private::json_to_sql::<#ty> };
            quote! { #encode(&self.#fid).map_err(#err)? }
        } else {
            quote_spanned! {ty.span()=> <#ty as ::sai::ColumnValue>::to_sql(&self.#fid) }
        }
    });
    let cells: Vec<_> = (0..fields.len())
        .map(|i| format_ident!("cell_{i}"))
        .collect();
    let decode = fields.iter().zip(&cells).map(|(f, cell)| {
        let (fid, ty) = (&f.ident, &f.ty);
        let err = column_error(&f.column);
        if f.json {
            let decode = quote_spanned! {ty.span()=> ::sai::__private::json_from_sql::<#ty> };
            quote! { #fid: #decode(#cell).map_err(#err)? }
        } else {
            quote! { #fid: <#ty as ::sai::ColumnValue>::from_sql(#cell).map_err(#err)? }
        }
    });
    let n = fields.len();
    let intent_alias = format_ident!("{ident}Intent");
    let projection_alias = format_ident!("{ident}Projection");
    let intent_doc = format!("An intent on a [`{ident}`]: its machine's event with metadata.");
    let projection_doc =
        format!("A [`{ident}`] projection: its machine state, fields and version.");
    let machine = machine.as_ref().expect("validated: the machine is named");
    let machine_ty = quote_spanned! {machine.span()=> #machine };
    let (bound, check) = machine_link(ident, &machine_ty);
    quote! {
        #[doc = #intent_doc]
        #vis type #intent_alias = ::sai::IntentOf<#ident>;
        #[doc = #projection_doc]
        #vis type #projection_alias = ::sai::SnapshotOf<#ident>;

        const _: () = {
            #check
            #[automatically_derived]
            impl ::sai::Domain for #ident #bound {
                const NAME: &'static str = #name;
                const COLUMNS: &'static [::sai::ColumnDef] = &[#(#columns),*];
                #dropped
                #shared
                type Machine = #machine_ty;

                fn to_row(&self) -> ::sai::__private::Result<::sai::__private::Vec<::sai::SqlValue>, ::sai::RowError> {
                    ::sai::__private::Ok(::std::vec![#(#encode),*])
                }

                fn from_row(row: ::sai::__private::Vec<::sai::SqlValue>) -> ::sai::__private::Result<Self, ::sai::RowError> {
                    let [#(#cells),*]: [::sai::SqlValue; #n] = row.try_into().map_err(
                        |row: ::sai::__private::Vec<::sai::SqlValue>| ::sai::RowError::Arity {
                            domain: #name,
                            expected: #n,
                            found: row.len(),
                        },
                    )?;
                    ::sai::__private::Ok(Self { #(#decode),* })
                }
            }
        };
    }
}

/// What ties a domain to its machine: a `where` clause and a check that it is this domain's
/// machine. Why the clause: the trait's bound on `type Machine` includes the state derives
/// (`Copy`, `Eq`, `Debug`, …); a machine lacking them is already reported once on its own enum,
/// and the clause (higher-ranked, so never rejected as trivially false) keeps that mistake from
/// being reported a second time here. The check, a generic call, keeps a type that is no
/// machine of this domain an error at `machine = …`, without the derive bounds. (Left over:
/// while the derives are missing, code that evaluates this domain's `COLUMNS` directly also
/// gets "entering unreachable code", as rustc drops bodies whose where-clauses cannot hold.)
fn machine_link(domain: &syn::Ident, machine: &TokenStream) -> (TokenStream, TokenStream) {
    let bound = quote! { where for<'__sai> #machine: ::sai::Machine<Domain = #domain> };
    let check = quote! { const _: () = ::sai::__private::machine_of::<#machine, #domain>(); };
    (bound, check)
}

/// The `default` of a field's `ColumnDef`: a function encoding the declared value through the
/// field's codec (a JSON field that fails to encode yields `NULL`, which the migration
/// refuses with a typed error).
fn default_of(f: &Field) -> TokenStream {
    let ty = &f.ty;
    let value = match &f.default {
        None => return quote! { ::sai::__private::None },
        Some(DefaultSpec::OfType) => {
            quote_spanned! {ty.span()=> <#ty as ::core::default::Default>::default() }
        }
        Some(DefaultSpec::Expr(e)) => match &**e {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(_),
                ..
            }) => quote_spanned! {e.span()=> ::core::convert::Into::into(#e) },
            _ => quote_spanned! {e.span()=> #e },
        },
    };
    let encode = if f.json {
        quote! {
            ::sai::__private::json_to_sql::<#ty>(&value).unwrap_or(::sai::SqlValue::Null)
        }
    } else {
        quote! { <#ty as ::sai::ColumnValue>::to_sql(&value) }
    };
    quote! {
        ::sai::__private::Some(::sai::FieldDefault({
            fn default_value() -> ::sai::SqlValue {
                let value: #ty = #value;
                #encode
            }
            default_value
        }))
    }
}
