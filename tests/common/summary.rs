//! The `summary:` line that the echo examples end with, parsed for their
//! tests (`tokio_echo`, `uring_echo`).

/// The line's `key=value` pairs, which must be `keys` in order, each value
/// a plain decimal.
pub fn parse_summary(line: &str, keys: &[&str]) -> Vec<(String, f64)> {
    let rest = line
        .strip_prefix("summary: ")
        .unwrap_or_else(|| panic!("no `summary: ` prefix: {line:?}"));
    let pairs: Vec<(String, f64)> = rest
        .split(' ')
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {pair:?} in {line:?}"));
            assert!(
                !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.'),
                "not a plain decimal: {pair:?} in {line:?}"
            );
            (key.to_owned(), value.parse().unwrap())
        })
        .collect();
    let found: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(found, keys, "{line:?}");
    pairs
}
