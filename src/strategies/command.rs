//! A strategy's command line and slug: split like a shell would (the `shell-words` crate,
//! no shell run), the program found as a shell would find it (a path, or a name on the
//! daemon's `PATH`), and slugs derived from names.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// Why a command line cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("the command cannot be split: {0}")]
    Split(String),
    #[error("the command is empty")]
    Empty,
    #[error("the program {0} does not exist or is not an executable file")]
    NotFound(String),
}

/// A command line split into its program (resolved to a path) and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// Splits `command` like a POSIX shell would (quotes, backslashes; no expansion) and finds
/// its program: a word with a `/` is a path (relative to the daemon's working directory),
/// else it is looked up in `PATH` as a shell would.
pub fn parse(command: &str) -> Result<CommandLine, CommandError> {
    let words = shell_words::split(command).map_err(|e| CommandError::Split(e.to_string()))?;
    let mut words = words.into_iter();
    let program = words.next().ok_or(CommandError::Empty)?;
    let resolved = if program.contains('/') {
        let path = PathBuf::from(&program);
        is_executable(&path).then_some(path)
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&program))
                .find(|p| is_executable(p))
        })
    };
    let program = resolved.ok_or(CommandError::NotFound(program))?;
    Ok(CommandLine {
        program,
        args: words.collect(),
    })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The longest slug.
pub const MAX_SLUG_LEN: usize = 16;

/// Whether `slug` is a valid slug: `[a-z0-9-]`, 1..=[`MAX_SLUG_LEN`] characters, not all
/// digits (so it never reads as an id).
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= MAX_SLUG_LEN
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.bytes().all(|b| b.is_ascii_digit())
}

/// A slug from a name: ASCII letters and digits lower-cased, every other run of characters
/// one `-`, trimmed, cut to [`MAX_SLUG_LEN`]; `None` when nothing valid is left.
pub fn slug_of(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(MAX_SLUG_LEN);
    let out = out.trim_matches('-').to_string();
    valid_slug(&out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell_and_missing_programs_are_named() {
        let c = parse("sh -c 'echo \"a b\"' x\\ y").unwrap();
        assert!(c.program.ends_with("sh"), "{c:?}");
        assert_eq!(c.args, ["-c", "echo \"a b\"", "x y"]);
        assert_eq!(
            parse("/nonexistent/strategy.py --fast"),
            Err(CommandError::NotFound("/nonexistent/strategy.py".into()))
        );
        assert_eq!(parse("  "), Err(CommandError::Empty));
        assert!(matches!(parse("sh 'open"), Err(CommandError::Split(_))));
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slug_of("MA crossover (1m)").as_deref(),
            Some("ma-crossover-1m")
        );
        assert_eq!(
            slug_of("Slow moving average").as_deref(),
            Some("slow-moving-aver")
        );
        assert_eq!(
            slug_of("Mean reversion 1h").as_deref(),
            Some("mean-reversion-1")
        );
        assert_eq!(slug_of("  ∆∆ "), None);
        assert_eq!(slug_of("123"), None);
        assert!(valid_slug("ma-1"));
        assert!(!valid_slug("Ma"));
        assert!(!valid_slug("42"));
    }
}
