//! The waiting: attempts, pauses and the deadline, for every target at once.
//!
//! Time comes from tokio's clock, which unit tests pause and advance by hand, so backoff and
//! deadlines are tested without sleeping. Stopping on a signal is the caller's business:
//! it drops these futures, which cancels any attempt in flight.

use std::collections::HashSet;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::probe::checks::Check;
use crate::probe::postgres::PostgresProbe;
use crate::probe::tcp::TcpProbe;
use crate::probe::{Class, Failure, Pace, Probe, diagnosis};
use crate::report::{Reporter, human_duration};
use crate::target::Target;

/// Limits that apply to every target.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// When to give up; `None` waits forever.
    pub deadline: Option<Instant>,
    /// The bound on one attempt; `None` leaves attempts unbounded.
    pub attempt_timeout: Option<Duration>,
    /// End the wait at the first permanent failure.
    pub fail_fast: bool,
}

/// How waiting for one target ended.
#[derive(Debug)]
pub enum TargetOutcome {
    Ready,
    /// The deadline passed; the last failure says why.
    TimedOut {
        last: Failure,
        attempts: u32,
    },
    /// A permanent failure ended the wait (fail-fast).
    Failed {
        failure: Failure,
        attempts: u32,
    },
}

/// How waiting for all targets ended.
#[derive(Debug)]
pub enum Outcome {
    Ready,
    /// The targets that were not ready, in the order they were given.
    TimedOut(Vec<NotReady>),
    /// A target failed permanently; the others were abandoned.
    Failed(NotReady),
}

#[derive(Debug)]
pub struct NotReady {
    pub name: String,
    pub last: Failure,
    pub attempts: u32,
}

/// Waits for every target concurrently under one deadline. The checks apply to every
/// PostgreSQL target.
pub async fn wait_all(
    targets: Vec<Target>,
    checks: Vec<Check>,
    limits: Limits,
    reporter: Reporter,
) -> Outcome {
    let mut tasks = JoinSet::new();
    for (index, target) in targets.into_iter().enumerate() {
        let seed = Backoff::seed_from_environment().wrapping_add(index as u64);
        let checks = checks.clone();
        tasks.spawn(async move {
            let name = target.to_string();
            let backoff = Backoff::new(seed);
            let outcome = match target {
                Target::Tcp(endpoint) => {
                    let mut probe = TcpProbe::new(endpoint);
                    wait_target(&name, &mut probe, limits, backoff, reporter).await
                }
                Target::Postgres(pg) => {
                    // The plan settled each PostgreSQL target's own bound.
                    let limits = Limits {
                        attempt_timeout: pg.connect_timeout,
                        ..limits
                    };
                    let mut probe = PostgresProbe::new(*pg, checks, limits.attempt_timeout);
                    wait_target(&name, &mut probe, limits, backoff, reporter).await
                }
            };
            (index, name, outcome)
        });
    }
    let mut not_ready = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, _, TargetOutcome::Ready)) => {}
            Ok((index, name, TargetOutcome::TimedOut { last, attempts })) => {
                let target = NotReady {
                    name,
                    last,
                    attempts,
                };
                not_ready.push((index, target));
            }
            Ok((_, name, TargetOutcome::Failed { failure, attempts })) => {
                // Dropping the set aborts the other targets' waits.
                return Outcome::Failed(NotReady {
                    name,
                    last: failure,
                    attempts,
                });
            }
            // A probe that panicked is a bug; let it surface as one.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    if not_ready.is_empty() {
        Outcome::Ready
    } else {
        not_ready.sort_by_key(|(index, _)| *index);
        Outcome::TimedOut(not_ready.into_iter().map(|(_, n)| n).collect())
    }
}

/// Attempts one target until it is ready, the deadline passes, or (with fail-fast) a
/// permanent failure. Each new kind of failure is reported when it first appears, so no
/// retry loop is ever silent.
pub async fn wait_target<P: Probe>(
    name: &str,
    probe: &mut P,
    limits: Limits,
    mut backoff: Backoff,
    reporter: Reporter,
) -> TargetOutcome {
    let start = Instant::now();
    let mut seen_kinds = HashSet::new();
    let mut last: Option<Failure> = None;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let attempt_end = earliest(
            limits.attempt_timeout.map(|t| Instant::now() + t),
            limits.deadline,
        );
        let result = match attempt_end {
            None => probe.attempt().await,
            Some(end) => match tokio::time::timeout_at(end, probe.attempt()).await {
                Ok(result) => result,
                Err(_) if Some(end) == limits.deadline => {
                    // The deadline cut this attempt short; the failure before it, if any,
                    // says more than "no answer yet".
                    let failure = last.take().unwrap_or_else(|| {
                        Failure::new(
                            probe.phase(),
                            Pace::Backoff,
                            "no answer before the deadline",
                        )
                    });
                    return TargetOutcome::TimedOut {
                        last: failure,
                        attempts,
                    };
                }
                Err(_) => {
                    probe.reset();
                    Err(diagnosis::no_answer(
                        probe.phase(),
                        limits.attempt_timeout.unwrap_or_default(),
                    ))
                }
            },
        };
        let failure = match result {
            Ok(()) => {
                reporter.info(&format!(
                    "{name}: ready after {} ({attempts} attempt{})",
                    human_duration(start.elapsed()),
                    if attempts == 1 { "" } else { "s" }
                ));
                return TargetOutcome::Ready;
            }
            Err(failure) => failure,
        };
        let permanent = failure.class == Class::Permanent;
        if permanent && limits.fail_fast {
            return TargetOutcome::Failed { failure, attempts };
        }
        if seen_kinds.insert(failure.kind()) {
            let mut text = format!("{name}: not ready: {failure}");
            if permanent {
                // Only under --no-fail-fast: say once why this may never heal.
                text.push_str(" (permanent; waiting anyway: --no-fail-fast)");
                if let Some(hint) = &failure.hint {
                    text.push('\n');
                    text.push_str(reporter.hint_block(hint).trim_end());
                }
            }
            reporter.info(&text);
        } else {
            reporter.verbose(&format!("{name}: attempt {attempts}: {failure}"));
        }
        let pause = backoff.next_delay(failure.pace);
        let wake = Instant::now() + pause;
        if let Some(deadline) = limits.deadline
            && wake >= deadline
        {
            tokio::time::sleep_until(deadline).await;
            return TargetOutcome::TimedOut {
                last: failure,
                attempts,
            };
        }
        last = Some(failure);
        tokio::time::sleep_until(wake).await;
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Phase;
    use crate::report::Verbosity;
    use std::collections::VecDeque;

    /// A scripted probe for testing the loop's arithmetic: each step takes some time and
    /// then succeeds or fails. (Real servers are exercised by the integration tests.)
    struct Script {
        steps: VecDeque<(Duration, Option<Pace>)>,
        started: Vec<Instant>,
    }

    impl Script {
        fn new(steps: &[(u64, Option<Pace>)]) -> Self {
            Script {
                steps: steps
                    .iter()
                    .map(|&(ms, r)| (Duration::from_millis(ms), r))
                    .collect(),
                started: Vec::new(),
            }
        }
    }

    impl Probe for Script {
        async fn attempt(&mut self) -> Result<(), Failure> {
            self.started.push(Instant::now());
            let (took, result) = self
                .steps
                .pop_front()
                .unwrap_or((Duration::ZERO, Some(Pace::Poll)));
            tokio::time::sleep(took).await;
            match result {
                None => Ok(()),
                Some(pace) => Err(Failure::new(Phase::Connect, pace, "connection refused")),
            }
        }
        fn phase(&self) -> Phase {
            Phase::Authenticate
        }
    }

    fn quiet() -> Reporter {
        Reporter::new(Verbosity::Quiet)
    }

    fn limits(deadline_ms: Option<u64>, attempt_ms: Option<u64>) -> Limits {
        Limits {
            deadline: deadline_ms.map(|ms| Instant::now() + Duration::from_millis(ms)),
            attempt_timeout: attempt_ms.map(Duration::from_millis),
            fail_fast: true,
        }
    }

    const POLL: Option<Pace> = Some(Pace::Poll);
    const SEEN: Option<Pace> = Some(Pace::Backoff);

    #[tokio::test(start_paused = true)]
    async fn refusals_are_polled_about_every_50_ms_until_ready() {
        let mut probe = Script::new(&[(1, POLL), (1, POLL), (1, POLL), (1, None)]);
        let start = Instant::now();
        let outcome = wait_target(
            "t",
            &mut probe,
            limits(Some(60_000), Some(5_000)),
            Backoff::new(1),
            quiet(),
        )
        .await;
        assert!(matches!(outcome, TargetOutcome::Ready));
        assert_eq!(probe.started.len(), 4);
        let gaps: Vec<_> = probe.started.windows(2).map(|w| w[1] - w[0]).collect();
        for gap in gaps {
            assert!(
                gap >= Duration::from_millis(41) && gap <= Duration::from_millis(61),
                "{gap:?}"
            );
        }
        assert!(start.elapsed() < Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn rejected_handshakes_back_off() {
        let mut probe = Script::new(&[(1, SEEN), (1, SEEN), (1, SEEN), (1, SEEN), (1, None)]);
        wait_target(
            "t",
            &mut probe,
            limits(Some(60_000), None),
            Backoff::new(9),
            quiet(),
        )
        .await;
        let gaps: Vec<_> = probe.started.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[3] > gaps[0], "{gaps:?}");
        assert!(gaps[3] >= Duration::from_millis(400), "{gaps:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_the_wait_with_the_last_failure() {
        let mut probe = Script::new(&[]);
        let start = Instant::now();
        let outcome = wait_target(
            "t",
            &mut probe,
            limits(Some(1_000), Some(5_000)),
            Backoff::new(1),
            quiet(),
        )
        .await;
        match outcome {
            TargetOutcome::TimedOut { last, attempts } => {
                assert_eq!(last.message, "connection refused");
                assert!(attempts >= 15, "{attempts}");
            }
            other => panic!("{other:?}"),
        }
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(1_000) && waited < Duration::from_millis(1_100),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_attempt_is_bounded_by_the_attempt_timeout() {
        let mut probe = Script::new(&[(3_600_000, None), (1, None)]);
        let start = Instant::now();
        let outcome = wait_target(
            "t",
            &mut probe,
            limits(Some(60_000), Some(2_000)),
            Backoff::new(1),
            quiet(),
        )
        .await;
        assert!(matches!(outcome, TargetOutcome::Ready));
        assert_eq!(probe.started.len(), 2);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_attempt_at_the_deadline_reports_no_answer() {
        let mut probe = Script::new(&[(3_600_000, None)]);
        let outcome = wait_target(
            "t",
            &mut probe,
            limits(Some(1_000), None),
            Backoff::new(1),
            quiet(),
        )
        .await;
        match outcome {
            TargetOutcome::TimedOut { last, .. } => {
                assert_eq!(last.message, "no answer before the deadline");
                assert_eq!(last.phase, Phase::Authenticate);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_waits_as_long_as_it_takes() {
        let mut steps = vec![(1, POLL); 5_000];
        steps.push((1, None));
        let mut probe = Script::new(&steps);
        let outcome = wait_target(
            "t",
            &mut probe,
            limits(None, None),
            Backoff::new(1),
            quiet(),
        )
        .await;
        assert!(matches!(outcome, TargetOutcome::Ready));
        assert_eq!(probe.started.len(), 5_001);
    }
}
