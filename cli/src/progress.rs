//! A one-line progress bar on stderr, shown only when stderr is a terminal and only
//! once work has lasted a moment (short composes should not flicker).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ocicompose::{ProgressFn, Stage};

/// How long a compose runs before the bar appears.
const SHOW_AFTER: Duration = Duration::from_millis(300);
/// The least time between two redraws.
const REDRAW_EVERY: Duration = Duration::from_millis(80);
const WIDTH: u64 = 30;

struct State {
    started: Instant,
    last_draw: Option<Instant>,
    last_stage: Option<Stage>,
    drawn: bool,
}

/// The bar; [`Bar::hook`] gives the library its callback, [`Bar::clear`] wipes the line.
pub(crate) struct Bar {
    state: Arc<Mutex<State>>,
}

impl Bar {
    pub(crate) fn new() -> Bar {
        Bar { state: Arc::new(Mutex::new(State { started: Instant::now(), last_draw: None, last_stage: None, drawn: false })) }
    }

    /// The progress callback: redraws at most every [`REDRAW_EVERY`], and always on a
    /// new stage. It never cancels.
    pub(crate) fn hook(&self) -> ProgressFn {
        let state = Arc::clone(&self.state);
        Arc::new(move |stage: Stage, done: u64, total: u64| {
            let Ok(mut s) = state.lock() else { return true };
            let now = Instant::now();
            if now.duration_since(s.started) < SHOW_AFTER {
                return true;
            }
            let new_stage = s.last_stage != Some(stage);
            if !new_stage && s.last_draw.is_some_and(|t| now.duration_since(t) < REDRAW_EVERY) && done < total {
                return true;
            }
            s.last_draw = Some(now);
            s.last_stage = Some(stage);
            s.drawn = true;
            let filled = (done.min(total) * WIDTH).checked_div(total).unwrap_or(WIDTH);
            let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { '.' }).collect();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{:<14} [{bar}] {done}/{total}", stage.as_str());
            let _ = err.flush();
            true
        })
    }

    /// Removes the bar's line, if it was drawn, so warnings start on a clean line.
    pub(crate) fn clear(&self) {
        if self.state.lock().is_ok_and(|s| s.drawn) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
