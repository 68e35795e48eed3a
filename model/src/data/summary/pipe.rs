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
