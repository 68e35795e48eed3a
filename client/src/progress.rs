//! The progress bar of long commands: rate and ETA on a terminal, nothing when standard
//! error is piped or redirected (batch jobs' logs stay clean).

use std::time::Duration;

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Progress in customers, with a total that may be an estimate (a streamed file's size is
/// known in bytes, not rows).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    what: &'static str,
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
        bar.set_style(style(what, false));
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress { bar, what }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// The (estimated) number of customers in all.
    pub fn set_total(&self, total: u64) {
        if self.bar.length().is_none() {
            // Bar, percentage and ETA only now that there is something to measure against.
            self.bar.set_style(style(self.what, true));
        }
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

/// The bar's look: before the total is known, the count and rate only (no `0/~0`, no
/// percentage of nothing); then the bar, percentage, estimated total and ETA. The rate is
/// whole customers per second.
fn style(what: &str, total_known: bool) -> ProgressStyle {
    let template = if total_known {
        format!(
            "{what} [{{bar:30}}] {{percent:>3}}% {{human_pos}}/~{{human_len}} customers, \
             {{rate}}, ETA {{eta}}"
        )
    } else {
        format!("{what} {{spinner}} {{human_pos}} customers, {{rate}}")
    };
    ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", rate_text(state.per_sec()));
            },
        )
}

/// Customers per second as people read it: `12,345/s`.
fn rate_text(per_sec: f64) -> String {
    if per_sec.is_finite() && per_sec >= 0.0 {
        format!("{}/s", HumanCount(per_sec.round() as u64))
    } else {
        "-/s".into()
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

    /// A terminal that keeps what is drawn on it.
    #[derive(Debug, Default, Clone)]
    struct Screen(std::sync::Arc<std::sync::Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.write_str("\n")
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_total_before_it_is_known_and_whole_rates() {
        let screen = Screen::default();
        let p = Progress::with_target(
            "scoring",
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        p.advance(1234);
        std::thread::sleep(Duration::from_millis(400));
        let before = screen.0.lock().unwrap().clone();
        assert!(before.contains("1,234 customers"), "{before:?}");
        assert!(
            !before.contains("~0") && !before.contains('%'),
            "{before:?}"
        );
        p.set_total(5000);
        p.advance(1);
        std::thread::sleep(Duration::from_millis(400));
        let after = screen.0.lock().unwrap().clone();
        assert!(after.contains("1,235/~5,000 customers"), "{after:?}");
        p.finish();
        // The rate has no decimals wherever it was drawn.
        for line in after.lines().filter(|l| l.contains("/s")) {
            let rate = line
                .split(", ")
                .find(|part| part.ends_with("/s") || part.contains("/s,"));
            let rate = rate.unwrap_or(line);
            assert!(!rate.contains('.'), "{line:?}");
        }
        assert_eq!(rate_text(1234.5678), "1,235/s");
        assert_eq!(rate_text(f64::NAN), "-/s");
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
