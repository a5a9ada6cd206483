//! The only place where pgwait's exit statuses are defined.
//!
//! The table in `--help` and in README.md is generated from, and tested against, this list.

/// How a pgwait run ended, as seen by the shell or the container runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every target is ready and no command was given.
    Ready,
    /// A bug or an unexpected failure of the machine itself.
    Internal,
    /// The command line could not be understood: bad flag, URL, duration, password file.
    Usage,
    /// A target failed in a way that waiting cannot fix.
    Permanent,
    /// Not every target was ready before `--timeout`.
    Timeout,
    /// The command was found but could not be executed.
    NotExecutable,
    /// The command was not found.
    NotFound,
    /// SIGINT, SIGTERM or SIGHUP arrived while waiting.
    Interrupted,
}

impl ExitCode {
    /// Every code with its meaning, in the order of the documented table.
    pub const TABLE: [(ExitCode, &'static str); 8] = [
        (
            ExitCode::Ready,
            "every target is ready (and no COMMAND was given)",
        ),
        (ExitCode::Internal, "internal error"),
        (
            ExitCode::Usage,
            "usage error: bad flag, target, URL, duration or password file",
        ),
        (
            ExitCode::Permanent,
            "permanent failure that waiting cannot fix (e.g. wrong password)",
        ),
        (ExitCode::Timeout, "not ready before --timeout"),
        (ExitCode::NotExecutable, "COMMAND found but not executable"),
        (ExitCode::NotFound, "COMMAND not found"),
        (
            ExitCode::Interrupted,
            "interrupted by SIGINT, SIGTERM or SIGHUP while waiting",
        ),
    ];

    pub const fn code(self) -> i32 {
        match self {
            ExitCode::Ready => 0,
            ExitCode::Internal => 1,
            ExitCode::Usage => 2,
            ExitCode::Permanent => 3,
            ExitCode::Timeout => 124,
            ExitCode::NotExecutable => 126,
            ExitCode::NotFound => 127,
            ExitCode::Interrupted => 130,
        }
    }

    /// The exit-code table as it appears at the end of `--help`.
    pub fn help_table() -> String {
        let mut out = String::from("Exit codes:\n");
        for (code, meaning) in Self::TABLE {
            out.push_str(&format!("  {:>3}  {meaning}\n", code.code()));
        }
        out.push_str("  After a successful exec the exit status is COMMAND's own.\n");
        out
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        // Every code is in 0..=255 by construction.
        std::process::ExitCode::from(code.code() as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_fit_in_a_byte() {
        let mut seen = std::collections::HashSet::new();
        for (code, _) in ExitCode::TABLE {
            assert!((0..=255).contains(&code.code()));
            assert!(seen.insert(code.code()), "duplicate {}", code.code());
        }
    }

    #[test]
    fn readme_documents_every_code_as_help_does() {
        let readme = include_str!("../README.md");
        for (code, meaning) in ExitCode::TABLE {
            let row = format!(
                "| {} | {} |",
                code.code(),
                meaning.replace("--timeout", "`--timeout`")
            );
            assert!(readme.contains(&row), "README.md lacks the row {row:?}");
        }
    }

    #[test]
    fn help_table_lists_every_code() {
        let table = ExitCode::help_table();
        for (code, meaning) in ExitCode::TABLE {
            assert!(table.contains(&format!("{:>3}  {meaning}", code.code())));
        }
    }
}
