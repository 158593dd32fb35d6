//! The rules of `buffer_pools!`, checked on the model; every violation is
//! reported, spanned on the tokens that break the rule.

use std::collections::HashMap;

use super::ast::Invocation;
use crate::errors::Errors;

/// The largest pool: 2^31 buffers.
const MAX_COUNT: u128 = 1 << 31;

/// What `usize` holds on the 64-bit targets iobuf supports.
const USIZE_MAX: u128 = u64::MAX as u128;

/// Names of the items the macro emits itself, which an entry's accessor
/// (or, for `buf`, its buffer type `Buf`) would collide with.
const RESERVED: [&str; 11] = [
    "init",
    "get",
    "get_async",
    "get_any_async",
    "get_timeout",
    "try_get",
    "try_get_any",
    "set_count",
    "set_budget",
    "stats",
    "buf",
];

pub(crate) fn check(invocation: &Invocation, errors: &mut Errors) {
    if invocation.entries.is_empty() && errors.is_empty() {
        errors.push(syn::Error::new(
            invocation.span,
            "`buffer_pools!` needs at least one entry, e.g. `small: 2KiB x 1024`",
        ));
    }
    let mut names: HashMap<String, &syn::Ident> = HashMap::new();
    let mut types: HashMap<String, &syn::Ident> = HashMap::new();
    let mut sizes: HashMap<u128, &syn::Ident> = HashMap::new();
    let mut total: u128 = 0;
    let mut total_overflowed = false;
    for entry in &invocation.entries {
        let name = entry.name.to_string();
        if !is_snake_case(&name) {
            errors.push(syn::Error::new(
                entry.name.span(),
                format!(
                    "entry names are snake_case identifiers; write `{}`",
                    to_snake(&name)
                ),
            ));
        } else if RESERVED.contains(&name.as_str()) {
            errors.push(syn::Error::new(
                entry.name.span(),
                format!(
                    "`{name}` is a name `buffer_pools!` emits itself (it emits `init`, `get`, \
                     `get_async`, `get_any_async`, `get_timeout`, `try_get`, `try_get_any`, \
                     `set_count`, `set_budget`, `stats` and the enum `Buf`); choose another \
                     name, e.g. `{name}_pool`"
                ),
            ));
        }
        if let Some(first) = names.get(&name) {
            let mut err = syn::Error::new(
                entry.name.span(),
                format!("duplicate entry `{name}`; each entry needs its own name"),
            );
            err.combine(syn::Error::new(
                first.span(),
                format!("`{name}` first declared here"),
            ));
            errors.push(err);
        } else {
            names.insert(name.clone(), &entry.name);
            let type_name = entry.type_name.to_string();
            if let Some(first) = types.get(&type_name) {
                errors.push(syn::Error::new(
                    entry.name.span(),
                    format!(
                        "`{name}` and `{first}` both make the buffer type `{type_name}`; \
                         rename one"
                    ),
                ));
            } else {
                types.insert(type_name, &entry.name);
            }
        }

        let Some(size_q) = entry.size else {
            continue; // its error is reported already
        };
        let size = size_q.value;
        if size == 0 {
            errors.push(syn::Error::new(
                size_q.span,
                "size 0: a buffer needs at least one byte",
            ));
        } else if let Some(first) = sizes.get(&size) {
            errors.push(syn::Error::new(
                size_q.span,
                format!(
                    "`{}` has the same size ({size} bytes) as `{first}`; each entry needs its \
                     own size, so that `get(len)` can choose one",
                    entry.name
                ),
            ));
        } else {
            sizes.insert(size, &entry.name);
        }

        // The limit itself is checked by the expansion, against
        // `iobuf::pool::MAX_THREAD_CACHE`; here only what it cannot even
        // write as a `usize`.
        if let Some((n, span)) = entry.options.thread_cache {
            if n > USIZE_MAX {
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "`thread_cache = {n}` does not fit in a `usize`; a thread cache holds \
                         at most `iobuf::pool::MAX_THREAD_CACHE` buffers"
                    ),
                ));
            }
        }

        let count = entry.count.value;
        if count == 0 {
            errors.push(syn::Error::new(
                entry.count.span,
                "count 0: a pool needs at least one buffer",
            ));
        } else if count > MAX_COUNT {
            errors.push(syn::Error::new(
                entry.count.span,
                format!("count {count} is above 2^31 ({MAX_COUNT}), the largest pool"),
            ));
        }

        match size.checked_mul(count).filter(|&b| b <= USIZE_MAX) {
            None => errors.push(syn::Error::new(
                entry.count.span,
                format!("{size} bytes x {count} buffers overflows usize"),
            )),
            Some(bytes) if !total_overflowed => match total.checked_add(bytes) {
                Some(t) if t <= USIZE_MAX => total = t,
                _ => {
                    total_overflowed = true;
                    errors.push(syn::Error::new(
                        entry.count.span,
                        format!(
                            "with `{}` the total of all pools overflows usize (TOTAL_BYTES)",
                            entry.name
                        ),
                    ));
                }
            },
            Some(_) => {}
        }
    }
}

/// Whether an entry's name can be emitted as an accessor without clashing.
pub(crate) fn is_usable_name(name: &str) -> bool {
    is_snake_case(name) && !RESERVED.contains(&name)
}

fn is_snake_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

/// `SmallPool` → `small_pool`, `RX` → `rx`.
fn to_snake(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name
        .trim_start_matches(|c: char| !c.is_ascii_alphabetic())
        .chars()
        .collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            if prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '_' {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c);
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.is_empty() {
        "pool".to_owned()
    } else {
        out
    }
}
