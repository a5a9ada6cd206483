//! The only module that writes to stderr. stdout belongs to the wrapped command.
//!
//! One line per event, each prefixed with `pgwait:` so it can be grepped in `docker logs`.
//! Colour only when stderr is a terminal and `NO_COLOR` is unset.

use std::io::{IsTerminal, Write};
use std::time::Duration;

/// How much pgwait says while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// What is awaited, each new failure kind, readiness, exec.
    Normal,
    /// Also every attempt.
    Verbose,
}

#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    verbosity: Verbosity,
    color: bool,
}

const PREFIX: &str = "pgwait:";

impl Reporter {
    pub fn new(verbosity: Verbosity) -> Self {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stderr().is_terminal();
        Reporter { verbosity, color }
    }

    /// A progress line shown unless `--quiet`.
    pub fn info(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            self.emit(&format!("{PREFIX} {message}\n"));
        }
    }

    /// A line shown only with `--verbose`.
    pub fn verbose(&self, message: &str) {
        if self.verbosity >= Verbosity::Verbose {
            self.emit(&format!("{PREFIX} {message}\n"));
        }
    }

    /// Lines that were asked for (`--dry-run`, a usage message), shown even with `--quiet`.
    pub fn always(&self, lines: &[String]) {
        let text: String = lines.iter().map(|l| format!("{PREFIX} {l}\n")).collect();
        self.emit(&text);
    }

    /// clap's own rendering of a usage error ("error: …", the usage line, a pointer to
    /// --help), behind the program's name.
    pub fn usage_error(&self, rendered: &str) {
        self.emit(&format!("{PREFIX} {}\n", rendered.trim_end()));
    }

    /// A warning, shown unless `--quiet`.
    pub fn warn(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            let label = self.paint("warning:", "33;1");
            self.emit(&format!("{PREFIX} {label} {message}\n"));
        }
    }

    /// An error, always shown, with optional hint lines below it.
    pub fn error(&self, message: &str, hint: Option<&str>) {
        let label = self.paint("error:", "31;1");
        let mut text = format!("{PREFIX} {label} {message}\n");
        if let Some(hint) = hint {
            text.push_str(&self.hint_block(hint));
        }
        self.emit(&text);
    }

    /// Indented `hint:` lines, for use below a message.
    pub fn hint_block(&self, hint: &str) -> String {
        let label = self.paint("hint:", "36");
        let mut text = String::new();
        for (i, line) in hint.lines().enumerate() {
            if i == 0 {
                text.push_str(&format!("  {label} {line}\n"));
            } else {
                text.push_str(&format!("        {line}\n"));
            }
        }
        text
    }

    /// Writes a block made of several lines in one write, so concurrent targets do not
    /// interleave within it.
    pub fn emit(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        // A closed stderr must not stop pgwait from doing its job.
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    }

    fn paint(&self, text: &str, sgr: &str) -> String {
        if self.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// A duration as a person reads it: `250ms`, `5s`, `1.25s`, `42.0s`, `2m 5s`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 && secs < 60.0 {
        format!("{}s", d.as_secs())
    } else if secs < 10.0 {
        format!("{secs:.2}s")
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(human_duration(Duration::from_millis(1254)), "1.25s");
        assert_eq!(human_duration(Duration::from_secs(5)), "5s");
        assert_eq!(human_duration(Duration::from_millis(42_040)), "42.0s");
        assert_eq!(human_duration(Duration::from_millis(125_900)), "2m 5s");
    }

    #[test]
    fn hint_block_indents_continuation_lines() {
        let r = Reporter {
            verbosity: Verbosity::Normal,
            color: false,
        };
        assert_eq!(
            r.hint_block("first\nsecond"),
            "  hint: first\n        second\n"
        );
    }
}
