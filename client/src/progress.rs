//! The progress bar of long commands: rate and ETA on a terminal, nothing when standard
//! error is piped or redirected (batch jobs' logs stay clean).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress in customers, with a total that may be an estimate (a streamed file's size is
/// known in bytes, not rows).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar on standard error; hidden unless that is a terminal or when `quiet`.
    pub fn customers(what: &'static str, quiet: bool) -> Progress {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr_with_hz(4)
        };
        Progress::with_target(what, target)
    }

    fn with_target(what: &'static str, target: ProgressDrawTarget) -> Progress {
        let bar = ProgressBar::with_draw_target(None, target);
        let template = format!(
            "{what} [{{bar:30}}] {{percent:>3}}% {{human_pos}}/~{{human_len}} customers, \
             {{per_sec}}, ETA {{eta}}"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress { bar }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// The (estimated) number of customers in all.
    pub fn set_total(&self, total: u64) {
        if self.bar.length() != Some(total) {
            self.bar.set_length(total);
        }
    }

    /// `n` more customers done.
    pub fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Starts again from `done` customers (a resumed stream).
    pub fn set_done(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Runs `f` (which prints) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar, leaving the terminal to the closing summary.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The total implied by `read` items being the fraction `fraction` of the input.
pub fn estimate_total(read: u64, fraction: f64) -> Option<u64> {
    (fraction > 0.0 && fraction <= 1.0).then(|| (read as f64 / fraction).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_need_a_fraction_read() {
        assert_eq!(estimate_total(250, 0.25), Some(1000));
        assert_eq!(estimate_total(10, 1.0), Some(10));
        assert_eq!(estimate_total(0, 0.0), None);
    }

    #[test]
    fn piped_or_quiet_bars_draw_nothing() {
        assert!(!Progress::customers("scoring", true).is_visible());
        let hidden = Progress::with_target("scoring", ProgressDrawTarget::hidden());
        hidden.set_total(10);
        hidden.advance(5);
        hidden.finish();
        assert!(!hidden.is_visible());
    }
}
