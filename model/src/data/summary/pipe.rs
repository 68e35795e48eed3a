//! Parsing and summarizing on two threads: this thread reads and validates the text, a
//! second one applies the rows to the [`SummaryBuilder`] (about half the work each). The
//! rows travel in batches, in input order, through a short bounded channel, so the result
//! — statistics, kept examples and the first error — is that of doing both on one thread.

use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};

use super::{Batch, MAX_EXAMPLES, RowError, RowPolicy, RowSink, SummaryBuilder};
use super::{SummaryError, SummaryOutput};

/// Rows per message: large enough that the channel costs nothing per row, small enough
/// that a batch stays in the cache between the two threads.
const PIPE_ROWS: usize = 4096;
/// Batches parsed ahead of the builder.
const IN_FLIGHT: usize = 4;

/// Whether a second thread is there to take the builder's half.
pub(super) fn worthwhile() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

/// What the parser sends, in input order.
enum Parsed {
    Columns([usize; 3]),
    Rows(Batch),
    Bad {
        line: u64,
        column: Option<usize>,
        field: String,
        /// `None` when the builder will not keep it (past [`MAX_EXAMPLES`] in lenient mode).
        value: Option<String>,
        reason: String,
    },
}

/// The parser's end of the channel.
pub(super) struct Pipe {
    to_builder: SyncSender<Parsed>,
    /// Emptied batches coming back, so their buffers are reused.
    spare: Receiver<Batch>,
    obs_end: i32,
    strict: bool,
    bad_rows: usize,
}

impl Pipe {
    fn send(&self, parsed: Parsed) -> Result<(), RowError> {
        // The builder only hangs up after an error of its own, which `run` reports.
        self.to_builder.send(parsed).map_err(|_| RowError {
            line: 0,
            column: None,
            field: String::new(),
            value: String::new(),
            reason: "the summary builder stopped".to_owned(),
        })
    }
}

impl RowSink for Pipe {
    const BATCH_ROWS: usize = PIPE_ROWS;

    fn obs_end(&self) -> i32 {
        self.obs_end
    }

    fn columns(&mut self, customer_id: usize, date: usize, amount: usize) {
        // A send error shows up at the first row.
        let _ = self.send(Parsed::Columns([customer_id, date, amount]));
    }

    fn rows(&mut self, batch: &mut Batch) -> Result<(), RowError> {
        if batch.rows.is_empty() {
            return Ok(());
        }
        let next = match self.spare.try_recv() {
            Ok(spare) => spare,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Batch {
                ids: String::with_capacity(batch.ids.capacity()),
                rows: Vec::with_capacity(PIPE_ROWS),
            },
        };
        self.send(Parsed::Rows(std::mem::replace(batch, next)))
    }

    fn bad(
        &mut self,
        line: u64,
        column: Option<usize>,
        field: &str,
        value: impl FnOnce() -> String,
        reason: &str,
    ) -> Result<(), RowError> {
        // The builder keeps every example in strict mode (the first is the error) and the
        // first MAX_EXAMPLES in lenient mode; it may have rejected rows of its own (out of
        // order), so it can need fewer than this, never more.
        let value = (self.strict || self.bad_rows < MAX_EXAMPLES).then(value);
        self.bad_rows += 1;
        self.send(Parsed::Bad {
            line,
            column,
            field: field.to_owned(),
            value,
            reason: reason.to_owned(),
        })
    }
}

/// Runs `parse` on this thread with a [`Pipe`] to `builder` on another, then finishes the
/// summary. The builder stops at the first error in input order, which is then the one
/// reported (a parse error can only come after every row that was sent).
pub(super) fn run(
    builder: SummaryBuilder,
    parse: impl FnOnce(&mut Pipe) -> Result<(), SummaryError>,
) -> Result<SummaryOutput, SummaryError> {
    let (to_builder, from_parser) = sync_channel(IN_FLIGHT);
    let (return_spare, spare) = channel();
    let mut pipe = Pipe {
        to_builder,
        spare,
        obs_end: builder.obs_end,
        strict: builder.config.policy == RowPolicy::Strict,
        bad_rows: 0,
    };
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || apply(builder, &from_parser, &return_spare));
        let parsed = parse(&mut pipe);
        // Closing the channel lets the builder run out.
        drop(pipe);
        let built = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match (built, parsed) {
            (Err(e), _) => Err(e.into()),
            (Ok(_), Err(e)) => Err(e),
            (Ok(builder), Ok(())) => Ok(builder.finish()),
        }
    })
}

/// The builder's thread: applies what arrives until the parser is done or a row fails.
fn apply(
    mut builder: SummaryBuilder,
    from_parser: &Receiver<Parsed>,
    return_spare: &Sender<Batch>,
) -> Result<SummaryBuilder, RowError> {
    for parsed in from_parser {
        match parsed {
            Parsed::Columns([c, d, a]) => builder.set_source_columns(c, d, a),
            Parsed::Rows(mut batch) => {
                builder.accept_batch(&mut batch)?;
                // The parser may be gone already; the batch is then simply dropped.
                let _ = return_spare.send(batch);
            }
            Parsed::Bad {
                line,
                column,
                field,
                value,
                reason,
            } => builder.reject(line, column, &field, || value.unwrap_or_default(), &reason)?,
        }
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

    #[test]
    fn two_threads_give_the_one_thread_result_rows_errors_and_examples() {
        // Enough rows for several pipe batches, bad rows early, between batches and late,
        // and rows too far out of order (rejected by the builder, not the parser).
        let mut text = String::from("customer_id,date,amount\n");
        let mut line = 1;
        let mut bad_lines = Vec::new();
        for i in 0..20_000 {
            line += 1;
            let day = 1 + (i / 100) % 300;
            let date = Day(d(2020, 1, 1).0 + day).to_string();
            match i {
                // The last twelve come after the builder's own rejections have filled the
                // examples: the parser then no longer needs to quote them.
                7 | 4_095 | 4_096 | 12_000 | 15_000..15_012 => {
                    text.push_str(&format!("c{},{date},oops\n", i % 500));
                    bad_lines.push(line);
                }
                9_000 => text.push_str(&format!("c{},{date}\n", i % 500)),
                _ if i % 997 == 0 && i > 10_000 => {
                    // After the customer's first day, 90+ days before their latest.
                    text.push_str(&format!("c{},2020-01-07,5\n", i % 500));
                }
                _ => text.push_str(&format!("c{},{date},{}.25\n", i % 500, i % 40)),
            }
        }
        // Both ways on `text`: the same result, or the same error.
        let both = |text: &str, policy: RowPolicy| {
            let run = |two: bool| {
                let b = SummaryBuilder::new(config(policy)).unwrap();
                summarize_text(text.as_bytes(), &CsvOptions::default(), b, two)
                    .map_err(|e| e.to_string())
            };
            let one = run(false);
            assert_eq!(run(true), one);
            one
        };
        let one = both(&text, RowPolicy::Lenient).unwrap();
        assert!(
            one.stats.rows_skipped > MAX_EXAMPLES as u64,
            "{:?}",
            one.stats
        );
        assert!(
            one.stats
                .skipped_by_reason
                .contains_key(OUT_OF_ORDER_REASON)
        );
        assert_eq!(one.stats.examples.len(), MAX_EXAMPLES);
        assert_eq!(one.stats.examples[0].line, bad_lines[0]);
        // Strict: the same first error, whether the parser or the builder finds it.
        let e = both(&text, RowPolicy::Strict).unwrap_err();
        assert!(e.contains(&format!("line {}", bad_lines[0])), "{e}");
        let no_bad_amounts = text.replace(",oops", ",1");
        let e = both(&no_bad_amounts, RowPolicy::Strict).unwrap_err();
        assert!(e.contains("line 9002"), "{e}");
        // The builder's error (out of order) comes before the parser's (line 12002).
        let late: String = text
            .lines()
            .enumerate()
            .filter(|(i, _)| ![9, 4097, 4098, 9002].contains(&(i + 1)))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let e = both(&late, RowPolicy::Strict).unwrap_err();
        assert!(e.contains("out of order"), "{e}");
        // Only good rows: the same table.
        let clean: String = no_bad_amounts
            .lines()
            .filter(|l| l.split(',').count() == 3 && !l.contains("2020-01-07,5"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(both(&clean, RowPolicy::Strict).unwrap().table.len(), 500);
        // A read error 100 lines after a row out of order: the row error comes first, however
        // many rows were waiting to be applied when the read failed.
        let first_late = late.find("2020-01-07,5\n").unwrap();
        let cut = first_late + late[first_late..].match_indices('\n').nth(100).unwrap().0;
        let run = |two: bool| {
            let b = SummaryBuilder::new(config(RowPolicy::Strict)).unwrap();
            let reader = FailingAt {
                data: late.as_bytes(),
                at: cut,
            };
            summarize_text(reader, &CsvOptions::default(), b, two)
                .map_err(|e| e.to_string())
                .unwrap_err()
        };
        let e = run(false);
        assert_eq!(run(true), e);
        assert!(e.contains("out of order"), "{e}");
    }

    /// Reads `data` up to byte `at`, then fails.
    struct FailingAt<'a> {
        data: &'a [u8],
        at: usize,
    }

    impl std::io::Read for FailingAt<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.at == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.at);
            let (head, tail) = self.data.split_at(n);
            buf[..n].copy_from_slice(head);
            self.data = tail;
            self.at -= n;
            Ok(n)
        }
    }
}
