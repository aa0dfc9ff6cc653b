//! The layout rules of ARCHITECTURE.md, checked over the source text:
//!
//! - `src/domain/` imports nothing else from the crate (it is the bottom layer);
//! - `src/control/protocol.rs` imports only the domain and the exchange's `Network`: its
//!   results are its own views, so a socket client never sees a store row;
//! - no Binance error-code literal appears outside `src/exchange/` (callers match on
//!   `ExchangeError::rejection()` instead).
//!
//! Comments and inline `#[cfg(test)] mod tests` blocks are not code and are skipped, as
//! are string literals for the code rule (a message may quote a code it explains).

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("readable source directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The file's code lines (1-based number, text), without comments and without the inline
/// test module that ends the file.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|(_, next)| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        let code = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        if !code.trim().is_empty() {
            out.push((i + 1, code.to_string()));
        }
    }
    out
}

/// `text` with the contents of string literals blanked (a simple scanner: `"…"` with
/// escapes, and `r"…"` / `r#"…"#` raw strings on one line).
fn without_strings(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'r' && i + 1 < bytes.len() && (bytes[i + 1] == b'"' || bytes[i + 1] == b'#') {
            let mut j = i + 1;
            let mut hashes = 0;
            while j < bytes.len() && bytes[j] == b'#' {
                hashes += 1;
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'"' {
                let close = format!("\"{}", "#".repeat(hashes));
                if let Some(end) = text[j + 1..].find(&close) {
                    out.push_str("\"\"");
                    i = j + 1 + end + close.len();
                    continue;
                }
            }
        }
        if c == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i = j + 1;
            continue;
        }
        out.push(c as char);
        i += 1;
    }
    out
}

/// Whether `code` holds a negative four-digit integer literal in the ranges Binance uses
/// for its error codes (-1000..=-1299 general and order errors, -2000..=-2099 order and
/// key errors, -4000..=-5999 futures errors). JSON-RPC codes (-32xxx) have five digits.
fn binance_code_in(code: &str) -> Option<String> {
    let bytes = code.as_bytes();
    for (at, _) in code.match_indices('-') {
        let before = at.checked_sub(1).map(|b| bytes[b]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
            continue;
        }
        let digits: String = code[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.len() != 4 {
            continue;
        }
        let n: u32 = digits.parse().expect("four digits");
        if (1000..=1299).contains(&n) || (2000..=2099).contains(&n) || (4000..=5999).contains(&n) {
            return Some(format!("-{digits}"));
        }
    }
    None
}

#[test]
fn domain_imports_nothing_else_from_the_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let files = rust_files(&root);
    assert!(files.len() >= 3, "src/domain/ holds the vocabulary");
    let mut offenders = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).expect("readable source file");
        for (n, line) in code_lines(&text) {
            let mut rest = line.as_str();
            while let Some(at) = rest.find("crate::") {
                let after = &rest[at + "crate::".len()..];
                let preceded_by_ident = rest[..at]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_');
                if !preceded_by_ident && !after.starts_with("domain") {
                    offenders.push(format!("{}:{n}: {}", file.display(), line.trim()));
                }
                rest = after;
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "src/domain/ must not import from the rest of the crate:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_control_protocol_imports_no_store_and_no_component() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/control/protocol.rs");
    let text = fs::read_to_string(&file).expect("readable source file");
    let mut imports = Vec::new();
    for (n, line) in code_lines(&text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let module: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            imports.push(module.clone());
            if module != "domain" && !after.starts_with("exchange::Network") {
                panic!(
                    "{}:{n}: the control protocol imports crate::{module} (only the domain \
                     and the exchange's Network; its results are its own views): {}",
                    file.display(),
                    line.trim()
                );
            }
            rest = after;
        }
    }
    assert!(
        imports.iter().any(|m| m == "domain"),
        "the scan read the protocol's imports"
    );
}

#[test]
fn binance_error_codes_are_read_only_inside_exchange() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let exchange = src.join("exchange");
    let mut offenders = Vec::new();
    let mut scanned = 0;
    for file in rust_files(&src) {
        if file.starts_with(&exchange) {
            continue;
        }
        scanned += 1;
        let text = fs::read_to_string(&file).expect("readable source file");
        for (n, line) in code_lines(&text) {
            if let Some(code) = binance_code_in(&without_strings(&line)) {
                offenders.push(format!("{}:{n}: {code}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(scanned > 20, "the scan read the crate ({scanned} files)");
    assert!(
        offenders.is_empty(),
        "Binance error codes outside src/exchange/ (match on ExchangeError::rejection()):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_scanners_see_what_they_look_for() {
    assert_eq!(binance_code_in("if code == -2013 {"), Some("-2013".into()));
    assert_eq!(binance_code_in("Some(-1121)"), Some("-1121".into()));
    assert_eq!(binance_code_in("x = -4120;"), Some("-4120".into()));
    assert_eq!(
        binance_code_in("ERR: i64 = -32004;"),
        None,
        "json-rpc codes"
    );
    assert_eq!(binance_code_in("a-1000"), None, "a subtraction");
    assert_eq!(
        binance_code_in("let d = -3000;"),
        None,
        "outside the ranges"
    );
    assert_eq!(without_strings(r#"f("code -2013", -1)"#), r#"f("", -1)"#);
    let text = "use crate::x; // crate::y\n#[cfg(test)]\nmod tests {\n use crate::z;\n}\n";
    let lines = code_lines(text);
    assert_eq!(lines, vec![(1, "use crate::x; ".to_string())]);
}

#[test]
fn binance_urls_and_headers_are_known_only_inside_exchange() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let exchange = src.join("exchange");
    let needles = [
        "/api/v3",
        "/fapi/",
        "/dapi/",
        "binance.com",
        "binance.vision",
        "X-MBX",
    ];
    let mut offenders = Vec::new();
    for file in rust_files(&src) {
        if file.starts_with(&exchange) {
            continue;
        }
        let text = fs::read_to_string(&file).expect("readable source file");
        // Whole lines, not `code_lines`: a URL's `//` is not a comment. Comment lines are
        // skipped (docs cite Binance's pages), and so is the inline test module.
        let code = match text.find("#[cfg(test)]\nmod tests") {
            Some(at) => &text[..at],
            None => &text,
        };
        for (i, line) in code.lines().enumerate() {
            let n = i + 1;
            if line.trim_start().starts_with("//") {
                continue;
            }
            if needles.iter().any(|needle| line.contains(needle)) {
                offenders.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "Binance URLs or headers outside src/exchange/:\n{}",
        offenders.join("\n")
    );
}
