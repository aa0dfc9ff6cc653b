//! Build script: records the git commit the binary is built from as
//! `TRADEBEAT_BUILD_COMMIT` (read by `tradebeat::BUILD_COMMIT`).
//!
//! - In a git checkout of this repository (a clone or a worktree): the first 12 hex digits
//!   of `HEAD`. The script reruns when `HEAD`, the branch it points at or `packed-refs`
//!   changes, so a new commit is picked up without a clean build.
//! - Otherwise (a source tarball, a vendored copy inside someone else's repository, no
//!   `git` installed): `unknown`.
//! - A packager who knows the commit sets `TRADEBEAT_BUILD_COMMIT` in the build's
//!   environment; it wins over both.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=TRADEBEAT_BUILD_COMMIT");
    let commit = match std::env::var("TRADEBEAT_BUILD_COMMIT") {
        Ok(given) if !given.trim().is_empty() => given.trim().to_string(),
        _ => git_commit().unwrap_or_else(|| "unknown".to_string()),
    };
    println!("cargo:rustc-env=TRADEBEAT_BUILD_COMMIT={commit}");
}

/// `HEAD`'s short hash when the package directory is the top of a git work tree, after
/// registering the files whose change means a new commit.
fn git_commit() -> Option<String> {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    // Only this repository's own history counts, not that of a repository the source
    // happens to sit in (a tarball unpacked inside a packaging repository).
    let top = git(&manifest_dir, &["rev-parse", "--show-toplevel"])?;
    if !same_dir(Path::new(&top), &manifest_dir) {
        return None;
    }
    for name in ["HEAD", "packed-refs"] {
        watch(&manifest_dir, name);
    }
    if let Some(branch) = git(&manifest_dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch(&manifest_dir, &branch);
    }
    let commit = git(&manifest_dir, &["rev-parse", "--short=12", "HEAD"])?;
    commit
        .bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then_some(commit)
}

/// Reruns the script when the git file `name` (`HEAD`, `refs/heads/main` …) changes,
/// wherever git keeps it (a worktree keeps `HEAD` apart from the shared refs). A ref that
/// is only in `packed-refs` is covered by watching that file.
fn watch(dir: &Path, name: &str) {
    // A file that does not exist would make cargo rerun the script at every build.
    if let Some(path) = git(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-path", name],
    ) && Path::new(&path).exists()
    {
        println!("cargo:rerun-if-changed={path}");
    }
}

/// The trimmed standard output of `git args` run in `dir`, when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
