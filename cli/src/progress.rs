//! The progress display on stderr (indicatif), shown only when stderr is a terminal and
//! only once work has lasted a moment (short composes should not flicker).
//!
//! A first line spins and counts the elapsed time: a stage reports only when a unit of
//! it is done, and reading one large layer can take seconds without a report. Below it
//! each stage gets its own bar, named by [`Stage::as_str`], because the base's and the
//! artifacts' layers are read at the same time: one shared bar would flip between them
//! and restart its rate and ETA at every flip. A stage's bar goes when it is done.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{HumanDuration, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use ocicompose::{ProgressFn, Stage};

/// How long a compose runs before the display appears.
const SHOW_AFTER: Duration = Duration::from_millis(300);
/// Redraws per second at most.
const REDRAW_HZ: u8 = 12;
/// How often the first line redraws by itself.
const TICK_EVERY: Duration = Duration::from_millis(200);
/// How long a stage runs before its rate and ETA show (the first reports come in a
/// burst, and a rate over a few milliseconds is noise).
const ESTIMATE_AFTER: Duration = Duration::from_secs(1);

/// What a stage counts, and whether a rate means something for it (entries and blobs
/// come in hundreds; a rate of two inputs or a few layers of any size says nothing).
fn unit(stage: Stage) -> (&'static str, bool) {
    match stage {
        Stage::Resolve => ("inputs", false),
        Stage::ReadBase | Stage::ReadArtifacts => ("layers", false),
        Stage::WriteLayer => ("entries", true),
        Stage::CopyBlobs => ("blobs", true),
        Stage::Commit => ("step", false),
    }
}

/// Width of the stage-name column: the longest name, so the bars line up.
fn name_width() -> usize {
    Stage::ALL.iter().map(|s| s.as_str().len()).max().unwrap_or(0)
}

/// Whether the stage has run long enough, and moved, for a rate to mean something.
fn estimable(state: &ProgressState) -> bool {
    state.pos() > 0 && state.elapsed() >= ESTIMATE_AFTER
}

/// `, ETA 3s` once the stage is [`estimable`]; nothing before.
fn eta(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    if estimable(state) {
        let _ = write!(w, ", ETA {:#}", HumanDuration(state.eta()));
    }
}

/// ` (1234/s)`, one decimal below ten a second (indicatif's own `per_sec` shows four).
fn rate(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let r = state.per_sec();
    if estimable(state) && r.is_finite() {
        let _ = if r < 10.0 { write!(w, " ({r:.1}/s)") } else { write!(w, " ({r:.0}/s)") };
    }
}

fn stage_style(with_rate: bool) -> ProgressStyle {
    let width = name_width();
    let rate_key = if with_rate { "{rate}" } else { "" };
    let template = format!("  {{prefix:<{width}}} [{{wide_bar}}] {{pos}}/{{len}} {{msg}}{rate_key}{{eta}}");
    ProgressStyle::with_template(&template).expect("the stage template parses").progress_chars("#>.").with_key("eta", eta).with_key("rate", rate)
}

fn elapsed_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} composing, {elapsed}").expect("the elapsed template parses")
}

/// Set (under its lock) when the display is cleared, so the reveal timer gives up.
type Cleared = Arc<(Mutex<bool>, Condvar)>;

/// The display; [`Bar::hook`] gives the library its callback, [`Bar::clear`] wipes it.
pub(crate) struct Bar {
    multi: MultiProgress,
    elapsed: ProgressBar,
    /// Every stage's bar once it has reported, finished ones included, so a late
    /// report of a finished stage (another platform, another thread) is not drawn again.
    stages: Arc<Mutex<Vec<(Stage, ProgressBar)>>>,
    cleared: Cleared,
    reveal: Mutex<Option<JoinHandle<()>>>,
}

impl Bar {
    /// A hidden display that a timer shows after [`SHOW_AFTER`], unless cleared first.
    pub(crate) fn new() -> Bar {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let elapsed = multi.add(ProgressBar::new_spinner().with_style(elapsed_style()));
        elapsed.enable_steady_tick(TICK_EVERY);
        let cleared: Cleared = Arc::new((Mutex::new(false), Condvar::new()));
        let reveal = {
            let (multi, cleared) = (multi.clone(), Arc::clone(&cleared));
            std::thread::spawn(move || {
                let (lock, wake) = &*cleared;
                let Ok(guard) = lock.lock() else { return };
                // The lock stays held while the target changes, so clear() runs after.
                if let Ok((done, _)) = wake.wait_timeout_while(guard, SHOW_AFTER, |done| !*done) {
                    if !*done {
                        multi.set_draw_target(ProgressDrawTarget::stderr_with_hz(REDRAW_HZ));
                    }
                }
            })
        };
        Bar { multi, elapsed, stages: Arc::default(), cleared, reveal: Mutex::new(Some(reveal)) }
    }

    /// The progress callback: one bar per stage, created at the stage's first report so
    /// its rate and ETA count from there. Positions only move forward (threads report
    /// out of order). It never cancels.
    pub(crate) fn hook(&self) -> ProgressFn {
        let stages = Arc::clone(&self.stages);
        let multi = self.multi.clone();
        Arc::new(move |stage: Stage, done: u64, total: u64| {
            let Ok(mut stages) = stages.lock() else { return true };
            let bar = match stages.iter().find(|(s, _)| *s == stage) {
                Some((_, bar)) => bar.clone(),
                None => {
                    let (noun, with_rate) = unit(stage);
                    let bar = multi.add(ProgressBar::new(total).with_style(stage_style(with_rate)).with_prefix(stage.as_str()).with_message(noun));
                    stages.push((stage, bar.clone()));
                    bar
                }
            };
            drop(stages);
            if bar.is_finished() {
                return true;
            }
            if bar.length() != Some(total) {
                bar.set_length(total);
            }
            if done > bar.position() {
                bar.set_position(done);
            }
            if done >= total {
                bar.finish_and_clear();
            }
            true
        })
    }

    /// Stops the reveal timer and removes every line drawn, so warnings start on a clean
    /// line.
    pub(crate) fn clear(&self) {
        let (lock, wake) = &*self.cleared;
        if let Ok(mut done) = lock.lock() {
            *done = true;
            wake.notify_all();
        }
        if let Some(reveal) = self.reveal.lock().ok().and_then(|mut r| r.take()) {
            let _ = reveal.join();
        }
        if let Ok(stages) = self.stages.lock() {
            for (_, bar) in stages.iter() {
                bar.finish_and_clear();
            }
        }
        self.elapsed.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// A display dropped without [`Bar::clear`] (an early return, a panic) still stops its
/// timer and leaves no line behind.
impl Drop for Bar {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_has_a_unit_and_the_templates_parse() {
        for stage in Stage::ALL {
            let (noun, with_rate) = unit(stage);
            assert!(!noun.is_empty());
            let _ = stage_style(with_rate);
        }
        let _ = elapsed_style();
    }

    #[test]
    fn a_cleared_display_never_appears() {
        let bar = Bar::new();
        let hook = bar.hook();
        assert!(hook(Stage::Resolve, 0, 2));
        bar.clear();
        std::thread::sleep(SHOW_AFTER + Duration::from_millis(100));
        assert!(bar.multi.is_hidden());
    }
}
