//! Replacing pgwait with the command once every target is ready.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::exit_code::ExitCode;

/// Why the command could not be started.
#[derive(Debug)]
pub struct ExecFailure {
    pub code: ExitCode,
    pub message: String,
    pub hint: Option<String>,
}

/// Replaces the current process with `command` (PATH lookup, same PID, environment and
/// file descriptors untouched, arguments byte-exact). Returns only when that fails.
///
/// Exec skips destructors: the caller closes database connections and flushes stderr
/// first. Rust's standard library resets SIGPIPE and the signal mask for the new program.
pub fn exec(command: &[OsString]) -> ExecFailure {
    let (program, args) = command
        .split_first()
        .expect("exec is called with a command");
    let error = Command::new(program).args(args).exec();
    describe(program, &error)
}

fn describe(program: &OsString, error: &io::Error) -> ExecFailure {
    let name = program.to_string_lossy();
    let cause = crate::probe::net::describe_io(error);
    let message = format!("cannot run \"{name}\": {cause}");
    if error.kind() == io::ErrorKind::NotFound {
        let hint = if name.contains('/') {
            "check the path of the command after --".to_string()
        } else {
            format!("\"{name}\" is not in PATH; give its path (e.g. ./{name}) or install it")
        };
        ExecFailure {
            code: ExitCode::NotFound,
            message,
            hint: Some(hint),
        }
    } else {
        let hint = (error.kind() == io::ErrorKind::PermissionDenied)
            .then(|| format!("make sure \"{name}\" is an executable file (chmod +x)"));
        ExecFailure {
            code: ExitCode::NotExecutable,
            message,
            hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_127_and_permission_denied_is_126() {
        let missing = describe(&"srv".into(), &io::Error::from_raw_os_error(2));
        assert_eq!(missing.code, ExitCode::NotFound);
        assert!(missing.hint.unwrap().contains("not in PATH"));
        let denied = describe(&"./srv".into(), &io::Error::from_raw_os_error(13));
        assert_eq!(denied.code, ExitCode::NotExecutable);
        assert!(denied.message.contains("permission denied"));
    }
}
