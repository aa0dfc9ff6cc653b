//! The repository's docs stand alone: no tracked text file mentions a document that a fresh
//! clone does not have (the design notes and the Binance notes that lived beside the
//! repository, or the shared directory next to it). Binance behaviour is cited by the URL of
//! Binance's public documentation; the user contract is README.md.
//!
//! The files are those `git ls-files` lists; without git (an exported source tree) the
//! directory tree is walked instead, skipping `target/` and `.git/`. Binary files (a NUL
//! byte, or not UTF-8) are skipped. The needles are assembled from parts so that this file
//! does not trip its own check.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What no file may mention, compared ASCII case-insensitively.
const NEEDLES: [&str; 3] = [
    concat!("DESIGN", ".md"),
    concat!("BINANCE", ".md"),
    concat!("..", "/shared"),
];

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The needles `line` mentions, in [`NEEDLES`] order.
fn mentions(line: &str) -> Vec<&'static str> {
    let lower = line.to_ascii_lowercase();
    NEEDLES
        .into_iter()
        .filter(|n| lower.contains(&n.to_ascii_lowercase()))
        .collect()
}

/// The repository's tracked files, relative to the root; `None` when git cannot say (no
/// git binary, or not a work tree).
fn git_files(root: &Path) -> Option<Vec<PathBuf>> {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let list = String::from_utf8(out.stdout).ok()?;
    Some(
        list.split('\0')
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect(),
    )
}

/// Every file below `root`, relative to it, without `target/` and `.git/`.
fn walked_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("readable directory") {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if name != "target" && name != ".git" {
                    stack.push(path);
                }
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// `path:line: text` for every line of a text file under `root` that mentions a needle.
fn offending_lines(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut hits = Vec::new();
    for rel in files {
        // A tracked file deleted in the work tree has nothing to say.
        let Ok(bytes) = fs::read(root.join(rel)) else {
            continue;
        };
        if bytes.contains(&0) {
            continue;
        }
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if !mentions(line).is_empty() {
                hits.push(format!("{}:{}: {}", rel.display(), i + 1, line.trim()));
            }
        }
    }
    hits
}

#[test]
fn no_tracked_file_mentions_a_document_outside_the_repository() {
    let root = Path::new(ROOT);
    let files = git_files(root).unwrap_or_else(|| walked_files(root));
    assert!(
        files.iter().any(|f| f == Path::new("README.md")),
        "the file list should include README.md; got {} files",
        files.len()
    );
    let hits = offending_lines(root, &files);
    assert!(
        hits.is_empty(),
        "{} line(s) cite a file a fresh clone lacks ({}); cite Binance's public docs by URL \
         (https://developers.binance.com/docs/binance-spot-api-docs/...) or README.md instead:\n{}",
        hits.len(),
        NEEDLES.join(", "),
        hits.join("\n")
    );
}

#[test]
fn the_check_sees_each_needle_in_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lines = [
        format!("/// See {} §4.1.", NEEDLES[1]),
        format!("-- the contract in {}", NEEDLES[0].to_ascii_lowercase()),
        format!("copied from {}/data", NEEDLES[2]),
        "cite https://developers.binance.com/docs/binance-spot-api-docs/errors".to_string(),
    ];
    fs::write(dir.path().join("notes.md"), lines.join("\n")).expect("write notes.md");
    fs::write(dir.path().join("blob.bin"), [b'a', 0, b'b']).expect("write blob.bin");

    let files = walked_files(dir.path());
    assert_eq!(
        files,
        [PathBuf::from("blob.bin"), PathBuf::from("notes.md")]
    );
    let hits = offending_lines(dir.path(), &files);
    assert_eq!(
        hits,
        [
            format!("notes.md:1: {}", lines[0]),
            format!("notes.md:2: {}", lines[1]),
            format!("notes.md:3: {}", lines[2]),
        ]
    );
}
