//! The daemon's components as one set: started together, stopped together, each within its
//! own drain deadline.
//!
//! A [`Component`] is a long-lived struct with a name, a drain deadline and
//! `run(self, shutdown)`: it runs until the shared [`CancellationToken`] is cancelled, then
//! finishes its work in flight and returns. [`Components`] spawns each one as it is added,
//! in that order; [`Components::wait`] returns when shutdown comes (or an essential component
//! ends on its own); [`Components::drain`] cancels the token and waits for all of them at
//! once, each up to its deadline counted from the cancellation. One still running at its
//! deadline is aborted, logged by name and named in the [`Drained`] report.
//!
//! This module knows no component: each implements [`Component`] beside its own code, and
//! the daemon adds it with one line.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::task::{AbortHandle, Id, JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A long-lived part of the daemon (the heartbeat, the control server, the backfill …).
pub trait Component: Send + 'static {
    /// The name in logs and in [`Drained`]: `heartbeat`, `control`, `backfill` …
    fn name(&self) -> &'static str;

    /// How long `run` may go on once shutdown is cancelled before it is aborted. Above the
    /// component's own grace for work in flight, so that a healthy stop never reaches it.
    fn drain_deadline(&self) -> Duration;

    /// Whether the daemon cannot go on without it: when it ends before shutdown,
    /// [`Components::wait`] returns [`Stop::Ended`] and the daemon stops with an error.
    /// When another component ends early, that is logged and the rest run on. Default:
    /// `false`.
    fn essential(&self) -> bool {
        false
    }

    /// Runs until `shutdown` is cancelled, then finishes the work in flight (within
    /// [`Component::drain_deadline`]) and returns.
    fn run(self, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static;
}

/// Why [`Components::wait`] returned.
#[derive(Debug)]
pub enum Stop {
    /// The shutdown token was cancelled (a signal, or the caller).
    Shutdown,
    /// An [essential](Component::essential) component ended before shutdown: returned
    /// (`Ok`) or panicked (`Err`).
    Ended {
        /// The component's [name](Component::name).
        name: &'static str,
        /// How its task ended.
        outcome: Result<(), JoinError>,
    },
}

/// How the components stopped, by name. A component appears in exactly one list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    /// Returned after shutdown, within their deadline, in the order they returned.
    pub finished: Vec<&'static str>,
    /// Still running at their deadline: aborted, in the order their deadlines passed.
    pub late: Vec<&'static str>,
    /// Panicked after shutdown (logged with the panic).
    pub failed: Vec<&'static str>,
}

/// What the set remembers of a running component.
struct Running {
    name: &'static str,
    deadline: Duration,
    essential: bool,
    abort: AbortHandle,
}

/// The running components and the shutdown token they share.
pub struct Components {
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    running: HashMap<Id, Running>,
    /// Components that ended after shutdown while [`Components::wait`] was joining.
    drained: Drained,
}

impl std::fmt::Debug for Components {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.running.values().map(|r| r.name).collect();
        names.sort_unstable();
        f.debug_struct("Components")
            .field("running", &names)
            .finish_non_exhaustive()
    }
}

impl Components {
    /// An empty set whose components will all run until `shutdown` is cancelled.
    pub fn new(shutdown: CancellationToken) -> Components {
        Components {
            shutdown,
            tasks: JoinSet::new(),
            running: HashMap::new(),
            drained: Drained::default(),
        }
    }

    /// Spawns `component` now, on the current tokio runtime, with the set's shutdown token.
    /// Components start in the order they are added.
    pub fn start<C: Component>(&mut self, component: C) {
        let (name, deadline, essential) = (
            component.name(),
            component.drain_deadline(),
            component.essential(),
        );
        let abort = self.tasks.spawn(component.run(self.shutdown.clone()));
        self.running.insert(
            abort.id(),
            Running {
                name,
                deadline,
                essential,
                abort,
            },
        );
    }

    /// Waits until the shutdown token is cancelled ([`Stop::Shutdown`]) or an essential
    /// component ends on its own ([`Stop::Ended`]). A component that is not essential and
    /// ends early is logged (a warning, an error when it panicked) and the wait goes on.
    pub async fn wait(&mut self) -> Stop {
        loop {
            let joined = tokio::select! {
                _ = self.shutdown.cancelled() => return Stop::Shutdown,
                Some(joined) = self.tasks.join_next_with_id() => joined,
            };
            let (id, outcome) = match joined {
                Ok((id, ())) => (id, Ok(())),
                Err(e) => (e.id(), Err(e)),
            };
            let Some(ended) = self.running.remove(&id) else {
                continue;
            };
            if self.shutdown.is_cancelled() {
                // It ended because of the stop: part of the drain.
                record(&mut self.drained, ended.name, outcome);
                return Stop::Shutdown;
            }
            if ended.essential {
                return Stop::Ended {
                    name: ended.name,
                    outcome,
                };
            }
            match outcome {
                Ok(()) => tracing::warn!(
                    target: "tradebeat::daemon",
                    component = ended.name,
                    "component stopped before shutdown; the others run on"
                ),
                Err(e) => tracing::error!(
                    target: "tradebeat::daemon",
                    component = ended.name,
                    error = %e,
                    "component failed; the others run on"
                ),
            }
        }
    }

    /// Cancels the shutdown token (if it is not already) and waits for every component,
    /// all at once, each up to its [`Component::drain_deadline`] from now. A component still
    /// running at its deadline is aborted and logged as a warning with its name.
    pub async fn drain(mut self) -> Drained {
        self.shutdown.cancel();
        let cancelled = Instant::now();
        let mut drained = std::mem::take(&mut self.drained);
        while let Some(first) = self.running.values().map(|r| r.deadline).min() {
            tokio::select! {
                biased;
                joined = self.tasks.join_next_with_id() => {
                    let Some(joined) = joined else { break };
                    let (id, outcome) = match joined {
                        Ok((id, ())) => (id, Ok(())),
                        Err(e) => (e.id(), Err(e)),
                    };
                    if let Some(ended) = self.running.remove(&id) {
                        record(&mut drained, ended.name, outcome);
                    }
                }
                _ = tokio::time::sleep_until(cancelled + first) => {
                    let mut due: Vec<(Duration, Id)> = self
                        .running
                        .iter()
                        .filter(|(_, r)| r.deadline <= first)
                        .map(|(id, r)| (r.deadline, *id))
                        .collect();
                    due.sort_unstable();
                    for (_, id) in due {
                        if let Some(late) = self.running.remove(&id) {
                            late.abort.abort();
                            tracing::warn!(
                                target: "tradebeat::daemon",
                                component = late.name,
                                drain_deadline_ms = u64::try_from(late.deadline.as_millis()).unwrap_or(u64::MAX),
                                "component did not stop within its drain deadline: aborted"
                            );
                            drained.late.push(late.name);
                        }
                    }
                }
            }
        }
        drained
    }
}

/// Files a component that ended after shutdown under `finished` or `failed`.
fn record(drained: &mut Drained, name: &'static str, outcome: Result<(), JoinError>) {
    match outcome {
        Ok(()) => drained.finished.push(name),
        Err(e) => {
            tracing::error!(target: "tradebeat::daemon", component = name, error = %e,
                "component failed while stopping");
            drained.failed.push(name);
        }
    }
}

/// Runs `check` every `period` (the first at once) until it fails or `shutdown` is
/// cancelled: the loop of the watch components (database file, instance lock). Returns the
/// failure, or `None` at shutdown. A late tick is delayed, never bunched.
pub async fn check_every<E>(
    period: Duration,
    shutdown: &CancellationToken,
    mut check: impl FnMut() -> Result<(), E>,
) -> Option<E> {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return None,
            _ = ticks.tick() => {}
        }
        if let Err(e) = check() {
            return Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    /// What a test component does.
    #[derive(Clone, Copy)]
    enum Behaviour {
        /// Stops this long after shutdown.
        StopsAfter(Duration),
        /// Ignores shutdown: runs until aborted.
        IgnoresShutdown,
        /// Ends on its own this long after the start.
        EndsAlone(Duration),
        /// Panics at shutdown.
        PanicsAtShutdown,
    }

    /// A test component. `alive` lives in its future, so the receiver returned by
    /// [`Probe::new`] tells when the task is gone (returned or aborted).
    struct Probe {
        name: &'static str,
        deadline: Duration,
        essential: bool,
        behaviour: Behaviour,
        alive: oneshot::Sender<()>,
    }

    impl Probe {
        fn new(
            name: &'static str,
            deadline_secs: u64,
            behaviour: Behaviour,
        ) -> (Probe, oneshot::Receiver<()>) {
            let (alive, gone) = oneshot::channel();
            let probe = Probe {
                name,
                deadline: Duration::from_secs(deadline_secs),
                essential: false,
                behaviour,
                alive,
            };
            (probe, gone)
        }
    }

    impl Component for Probe {
        fn name(&self) -> &'static str {
            self.name
        }
        fn drain_deadline(&self) -> Duration {
            self.deadline
        }
        fn essential(&self) -> bool {
            self.essential
        }
        async fn run(self, shutdown: CancellationToken) {
            let _alive = self.alive;
            if let Behaviour::EndsAlone(after) = self.behaviour {
                tokio::time::sleep(after).await;
                return;
            }
            shutdown.cancelled().await;
            match self.behaviour {
                Behaviour::StopsAfter(after) => tokio::time::sleep(after).await,
                Behaviour::PanicsAtShutdown => panic!("probe panics at shutdown"),
                _ => std::future::pending::<()>().await,
            }
        }
    }

    /// When `gone` reports the task gone.
    fn gone_at(gone: oneshot::Receiver<()>) -> tokio::task::JoinHandle<Instant> {
        tokio::spawn(async move {
            let _ = gone.await;
            Instant::now()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_component_ignoring_shutdown_is_aborted_at_its_deadline_and_named() {
        let shutdown = CancellationToken::new();
        let mut set = Components::new(shutdown.clone());
        let (quick, _) = Probe::new("quick", 4, Behaviour::StopsAfter(Duration::ZERO));
        let (slow, _) = Probe::new("slow", 4, Behaviour::StopsAfter(Duration::from_secs(3)));
        let (stubborn, stubborn_gone) = Probe::new("stubborn", 2, Behaviour::IgnoresShutdown);
        let stubborn_gone = gone_at(stubborn_gone);
        set.start(quick);
        set.start(slow);
        set.start(stubborn);

        shutdown.cancel();
        assert!(matches!(set.wait().await, Stop::Shutdown));
        let cancelled = Instant::now();
        let drained = set.drain().await;

        assert_eq!(drained.late, ["stubborn"]);
        assert_eq!(drained.finished, ["quick", "slow"]);
        assert!(drained.failed.is_empty());
        // The well-behaved ones were waited for (the slow one's 3 s, within its deadline);
        // the stubborn one was aborted at its own 2 s, not left running until the end.
        assert_eq!(cancelled.elapsed(), Duration::from_secs(3));
        let aborted_at = stubborn_gone.await.unwrap();
        assert_eq!(aborted_at - cancelled, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_cancels_the_token_and_reports_each_component_once() {
        let shutdown = CancellationToken::new();
        let mut set = Components::new(shutdown.clone());
        let (well_behaved, _) =
            Probe::new("well_behaved", 4, Behaviour::StopsAfter(Duration::ZERO));
        let (panicking, _) = Probe::new("panicking", 4, Behaviour::PanicsAtShutdown);
        let (stubborn, _) = Probe::new("stubborn", 5, Behaviour::IgnoresShutdown);
        set.start(well_behaved);
        set.start(panicking);
        set.start(stubborn);

        // Not cancelled before: drain cancels it (after an essential component ended).
        let start = Instant::now();
        let mut drained = set.drain().await;
        assert!(shutdown.is_cancelled());
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        drained.finished.sort_unstable();
        assert_eq!(
            drained,
            Drained {
                finished: vec!["well_behaved"],
                late: vec!["stubborn"],
                failed: vec!["panicking"],
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_essential_component_ending_early_ends_the_wait_and_others_do_not() {
        let shutdown = CancellationToken::new();
        let mut set = Components::new(shutdown.clone());
        let (optional, _) = Probe::new("optional", 4, Behaviour::EndsAlone(Duration::from_secs(1)));
        let (mut essential, _) =
            Probe::new("essential", 4, Behaviour::EndsAlone(Duration::from_secs(2)));
        essential.essential = true;
        let (other, _) = Probe::new("other", 4, Behaviour::StopsAfter(Duration::ZERO));
        set.start(optional);
        set.start(essential);
        set.start(other);

        let start = Instant::now();
        match set.wait().await {
            Stop::Ended { name, outcome } => {
                assert_eq!(name, "essential");
                assert!(outcome.is_ok());
            }
            Stop::Shutdown => panic!("the essential component's end was missed"),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert!(!shutdown.is_cancelled());
        let drained = set.drain().await;
        assert_eq!(drained.finished, ["other"]);
        assert!(drained.late.is_empty() && drained.failed.is_empty());
    }
}
