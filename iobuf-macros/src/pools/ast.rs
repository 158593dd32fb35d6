//! The model of a `buffer_pools!` invocation, read leniently: a bad entry
//! is reported and skipped, and the others are still read, so that every
//! mistake shows in one compile.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitInt, Token};

use crate::errors::Errors;

/// The whole invocation.
pub(crate) struct Invocation {
    /// The path of the `iobuf` crate (`$crate` of the front macro).
    pub krate: TokenStream,
    pub entries: Vec<Entry>,
    /// Where the macro was called, for errors about the whole invocation.
    pub span: Span,
}

/// `#[attrs] name: SIZE x COUNT`.
pub(crate) struct Entry {
    /// Attributes other than `#[pool]`: doc comments and the rest.
    pub attrs: Vec<Attribute>,
    pub options: Options,
    pub name: Ident,
    /// The buffer type's name: `name` in UpperCamelCase.
    pub type_name: Ident,
    /// `None` when the size could not be read (its error is reported); the
    /// entry is kept so that its other mistakes are reported too.
    pub size: Option<Quantity>,
    pub count: Quantity,
}

impl Entry {
    /// The size of a valid entry (expansion runs only when every size was
    /// read).
    pub(crate) fn size(&self) -> Quantity {
        self.size.expect("expansion runs only on valid input")
    }
}

/// A number with the tokens it came from.
#[derive(Clone, Copy)]
pub(crate) struct Quantity {
    pub value: u128,
    pub span: Span,
}

/// `#[pool(...)]` options, each with the span of its keyword.
#[derive(Default)]
pub(crate) struct Options {
    pub zero_on_return: Option<Span>,
    pub huge_pages: Option<Span>,
    pub lock_memory: Option<Span>,
    pub prefault: Option<Span>,
    /// `allow_overcommit`: a count above the machine's memory is no error.
    pub allow_overcommit: Option<Span>,
    /// `thread_cache = N`: buffers per thread cache (0 turns caching off).
    pub thread_cache: Option<(u128, Span)>,
}

/// The `#[pool(...)]` option names, for messages.
pub(crate) const OPTIONS: [&str; 6] = [
    "zero_on_return",
    "huge_pages",
    "lock_memory",
    "prefault",
    "allow_overcommit",
    "thread_cache = N",
];

impl Invocation {
    pub(crate) fn parse(input: TokenStream, errors: &mut Errors) -> Invocation {
        let span = Span::call_site();
        let mut tokens = input.into_iter().peekable();
        // `$crate ;` first.
        let mut krate = TokenStream::new();
        for tt in tokens.by_ref() {
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ';') {
                break;
            }
            krate.extend([tt]);
        }
        let mut entries = Vec::new();
        let mut chunk = TokenStream::new();
        let mut flush = |chunk: TokenStream, errors: &mut Errors| {
            if !chunk.is_empty() {
                if let Some(entry) = parse_entry(chunk, errors) {
                    entries.push(entry);
                }
            }
        };
        for tt in tokens {
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                flush(std::mem::take(&mut chunk), errors);
            } else {
                chunk.extend([tt]);
            }
        }
        flush(chunk, errors);
        Invocation {
            krate,
            entries,
            span,
        }
    }
}

fn parse_entry(tokens: TokenStream, errors: &mut Errors) -> Option<Entry> {
    let mut late = Errors::default();
    let parser = |input: ParseStream<'_>| -> syn::Result<Option<Entry>> {
        let all_attrs = input.call(Attribute::parse_outer)?;
        // Options first, so that their mistakes are reported even when the
        // rest of the entry cannot be read.
        let mut attrs = Vec::new();
        let mut options = Options::default();
        for attr in all_attrs {
            if attr.path().is_ident("pool") {
                parse_options(&attr, &mut options, &mut late);
            } else {
                attrs.push(attr);
            }
        }
        let name: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected an entry `name: SIZE x COUNT`, e.g. `small: 2KiB x 1024`",
            )
        })?;
        if !input.peek(Token![:]) {
            return Err(input.error(format!(
                "expected `:` after `{name}`, e.g. `{name}: 2KiB x 1024`"
            )));
        }
        input.parse::<Token![:]>()?;
        let (size, size_span) = parse_size(input, &mut late)?;
        parse_x(input, size_span)?;
        let count = parse_count(input)?;
        if !input.is_empty() {
            return Err(
                input.error("unexpected tokens after the count; separate entries with commas")
            );
        }
        let type_name = Ident::new(&upper_camel(&name.to_string()), name.span());
        Ok(Some(Entry {
            attrs,
            options,
            name,
            type_name,
            size,
            count,
        }))
    };
    let result = parser.parse2(tokens);
    errors.append(late);
    match result {
        Ok(entry) => entry,
        Err(err) => {
            errors.push(err);
            None
        }
    }
}

/// The size: an integer literal with its unit as a suffix (`2KiB`) or as the
/// next identifier (`2 KiB`). An unknown unit is reported (to `late`) and the
/// entry is still read, so later mistakes show too.
fn parse_size(input: ParseStream<'_>, late: &mut Errors) -> syn::Result<(Option<Quantity>, Span)> {
    let lit: LitInt = input.parse().map_err(|e| {
        syn::Error::new(e.span(), "expected a size such as `2KiB`, `512B` or `4096`")
    })?;
    let mut span = lit.span();
    let mut unit = lit.suffix().to_owned();
    if unit.is_empty() {
        if let Some(ident) = input.fork().parse::<Ident>().ok().filter(|i| i != "x") {
            input.parse::<Ident>()?;
            span = lit.span().join(ident.span()).unwrap_or(span);
            unit = ident.to_string();
        }
    }
    if let Some((unit_part, count)) = glued_count(&unit) {
        let text = lit.to_string();
        let number = &text[..text.len() - lit.suffix().len()];
        return Err(syn::Error::new(
            span,
            format!("missing spaces around `x`: write `{number}{unit_part} x {count}`"),
        ));
    }
    let digits: u128 = lit
        .base10_parse()
        .map_err(|_| syn::Error::new(lit.span(), "the size is too large to represent"))?;
    let Some(multiplier) = unit_multiplier(&unit) else {
        late.push(syn::Error::new(span, unknown_unit(&unit)));
        return Ok((None, span));
    };
    let quantity = digits
        .checked_mul(multiplier)
        .map(|value| Quantity { value, span });
    if quantity.is_none() {
        late.push(syn::Error::new(span, "the size is too large to represent"));
    }
    Ok((quantity, span))
}

fn unit_multiplier(unit: &str) -> Option<u128> {
    match unit {
        "" | "B" => Some(1),
        "KiB" => Some(1 << 10),
        "MiB" => Some(1 << 20),
        "GiB" => Some(1 << 30),
        _ => None,
    }
}

/// `KiBx1024` → `("KiB", "1024")`: a size glued to its count.
fn glued_count(unit: &str) -> Option<(&str, &str)> {
    let at = unit.find('x')?;
    let (unit_part, rest) = (&unit[..at], &unit[at + 1..]);
    let is_count = !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '_');
    is_count.then_some((unit_part, rest))
}

fn unknown_unit(unit: &str) -> String {
    let suggestion = match unit.to_ascii_lowercase().as_str() {
        "k" | "kb" | "kib" | "kbyte" | "kbytes" => "KiB",
        "m" | "mb" | "mib" => "MiB",
        "g" | "gb" | "gib" => "GiB",
        "b" | "byte" | "bytes" => "B",
        _ => "",
    };
    if suggestion.is_empty() {
        format!("unknown unit `{unit}`; write `B`, `KiB`, `MiB` or `GiB` (powers of 1024)")
    } else {
        let bytes = match suggestion {
            "KiB" => "1024 bytes",
            "MiB" => "1024 KiB",
            "GiB" => "1024 MiB",
            _ => "one byte",
        };
        format!("unknown unit `{unit}`; write `{suggestion}` ({bytes})")
    }
}

/// The `x` between size and count.
fn parse_x(input: ParseStream<'_>, size_span: Span) -> syn::Result<()> {
    if let Ok(ident) = input.fork().parse::<Ident>() {
        let text = ident.to_string();
        if text == "x" {
            input.parse::<Ident>()?;
            return Ok(());
        }
        if let Some(count) = text
            .strip_prefix('x')
            .filter(|c| c.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(syn::Error::new(
                ident.span(),
                format!("missing space after `x`: write `x {count}`"),
            ));
        }
    }
    let span = if input.is_empty() {
        size_span
    } else {
        input.span()
    };
    Err(syn::Error::new(
        span,
        "expected `x` between the size and the count, e.g. `small: 2KiB x 1024`",
    ))
}

fn parse_count(input: ParseStream<'_>) -> syn::Result<Quantity> {
    let lit: LitInt = input.parse().map_err(|e| {
        syn::Error::new(e.span(), "expected a buffer count after `x`, e.g. `x 1024`")
    })?;
    if !lit.suffix().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            format!("a count has no unit: write `x {}`", lit.base10_digits()),
        ));
    }
    let value: u128 = lit
        .base10_parse()
        .map_err(|_| syn::Error::new(lit.span(), "the count is too large to represent"))?;
    Ok(Quantity {
        value,
        span: lit.span(),
    })
}

fn parse_options(attr: &Attribute, options: &mut Options, late: &mut Errors) {
    let parsed = attr.parse_nested_meta(|meta| {
        let span = meta.path.span();
        if meta.path.is_ident("thread_cache") {
            if options.thread_cache.is_some() {
                late.push(syn::Error::new(
                    span,
                    "this option is given twice; keep one",
                ));
            }
            let lit: LitInt = meta.value()?.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "write `thread_cache = N`, N buffers per thread (0: off)",
                )
            })?;
            options.thread_cache = Some((lit.base10_parse()?, lit.span()));
            return Ok(());
        }
        let slot = if meta.path.is_ident("zero_on_return") {
            &mut options.zero_on_return
        } else if meta.path.is_ident("huge_pages") {
            &mut options.huge_pages
        } else if meta.path.is_ident("lock_memory") {
            &mut options.lock_memory
        } else if meta.path.is_ident("prefault") {
            &mut options.prefault
        } else if meta.path.is_ident("allow_overcommit") {
            &mut options.allow_overcommit
        } else {
            let name = meta
                .path
                .get_ident()
                .map_or_else(|| "?".to_owned(), Ident::to_string);
            late.push(syn::Error::new(
                span,
                format!(
                    "unknown `pool` option `{name}`; the options are {}",
                    OPTIONS.map(|o| format!("`{o}`")).join(", ")
                ),
            ));
            if meta.input.peek(Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            }
            return Ok(());
        };
        if slot.is_some() {
            late.push(syn::Error::new(
                span,
                "this option is given twice; keep one",
            ));
        }
        *slot = Some(span);
        Ok(())
    });
    if let Err(err) = parsed {
        late.push(err);
    }
}

/// `rx_ring` → `RxRing`.
pub(crate) fn upper_camel(snake: &str) -> String {
    snake
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}
