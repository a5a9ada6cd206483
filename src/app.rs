//! Runs a plan: wait for every target, then exec the command or report why not.

use crate::exec;
use crate::exit_code::ExitCode;
use crate::plan::Plan;
use crate::report::{Reporter, human_duration};
use crate::signals::StopSignal;
use crate::wait::{self, Limits, Outcome};

pub fn run(plan: Plan) -> ExitCode {
    let reporter = Reporter::new(plan.verbosity);
    for warning in &plan.warnings {
        reporter.warn(warning);
    }
    if plan.dry_run {
        reporter.always(&plan.describe());
        return ExitCode::Ready;
    }
    let (mut stop, install_error) = StopSignal::install();
    if let Some(e) = install_error {
        reporter.warn(&format!("cannot handle SIGINT/SIGTERM/SIGHUP: {e}"));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            reporter.error(&format!("cannot start the event loop: {e}"), None);
            return ExitCode::Internal;
        }
    };

    let names: Vec<String> = plan.targets.iter().map(ToString::to_string).collect();
    reporter.info(&format!(
        "waiting {} for {}",
        plan.time_limit(),
        names.join(", ")
    ));
    let started = std::time::Instant::now();
    let outcome = runtime.block_on(async {
        let limits = Limits {
            deadline: plan.timeout.map(|t| tokio::time::Instant::now() + t),
            attempt_timeout: plan.connect_timeout,
            fail_fast: plan.fail_fast,
        };
        tokio::select! {
            biased;
            () = stop.wait() => None,
            outcome = wait::wait_all(plan.targets, plan.checks, limits, reporter) => Some(outcome),
        }
    });
    // Closes every socket now; never waits for a name lookup stuck in a worker thread.
    runtime.shutdown_background();
    let waited = human_duration(started.elapsed());
    let program = plan
        .command
        .first()
        .map(|p| format!("\"{}\"", p.to_string_lossy()));

    match outcome {
        Some(Outcome::Ready) if !stop.arrived() => {
            let Some(program) = program else {
                reporter.info(&format!("ready after {waited}"));
                return ExitCode::Ready;
            };
            // Only the program name: its arguments may carry secrets.
            reporter.info(&format!("ready after {waited}; running {program}"));
            let failure = exec::exec(&plan.command);
            reporter.error(&failure.message, failure.hint.as_deref());
            failure.code
        }
        Some(Outcome::TimedOut(not_ready)) => {
            for target in not_ready {
                reporter.error(
                    &format!(
                        "{}: not ready after {waited} ({} attempts): {}",
                        target.name, target.attempts, target.last
                    ),
                    target.last.hint.as_deref(),
                );
            }
            if let Some(program) = program {
                reporter.error(&format!("timed out; {program} was not run"), None);
            }
            ExitCode::Timeout
        }
        Some(Outcome::Failed(target)) => {
            reporter.error(
                &format!("{}: {}", target.name, target.last),
                target.last.hint.as_deref(),
            );
            let not_run = program.map_or(String::new(), |p| format!("; {p} was not run"));
            reporter.error(
                &format!("waiting cannot fix this, so pgwait stops{not_run} (--no-fail-fast waits anyway)"),
                None,
            );
            ExitCode::Permanent
        }
        None | Some(Outcome::Ready) => {
            let not_run = program.map_or(String::new(), |p| format!("; {p} was not run"));
            reporter.error(
                &format!("interrupted by a signal while waiting{not_run}"),
                None,
            );
            ExitCode::Interrupted
        }
    }
}
