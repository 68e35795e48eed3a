//! What score, segment, recommend, fit and report share: the options that pick a model
//! and a customer file, and the customers read as wire chunks (summarized locally from a
//! transaction log, or read from a summary file), again from any row when a stream resumes.

use std::sync::Arc;

use custval_model::TimeUnit;
use custval_model::data::summary::Day;
use custval_proto::v1 as pb;

use super::{TimeUnitArg, parse_day, unit_to_proto};
use crate::connect::Connection;
use crate::error::ClientError;
use crate::files::{self, InputKind, InputOptions};

/// Customers per message when streaming.
const CHUNK: usize = 50_000;

/// The customers of an input file, as wire chunks of summaries.
pub(super) enum Customers {
    /// Summarized locally from a transaction log; the next row to send.
    Table(Arc<custval_model::CustomerTable>, usize),
    /// A summary file; customers still to skip (a resumed stream).
    File(files::SummaryReader, u64),
}

/// Where the customers came from, to read them again from some row on.
pub(super) enum Source {
    Table(Arc<custval_model::CustomerTable>),
    File(Box<InputOptions>),
}

impl Source {
    /// The customers from row `skip` on.
    pub(super) fn open_at(&self, skip: u64) -> Result<Customers, ClientError> {
        Ok(match self {
            Source::Table(t) => Customers::Table(t.clone(), skip as usize),
            Source::File(input) => Customers::File(input.summaries(CHUNK)?, skip),
        })
    }
}

impl Customers {
    /// The customers of `input`: a summary file as it is (holdout columns unread), or a
    /// transaction log summarized here up to `observation_end`, or with `holdout_end` up
    /// to that with the holdout after `observation_end`.
    pub(super) fn open(
        input: &InputOptions,
        unit: TimeUnit,
        observation_end: Option<Day>,
        holdout_end: Option<Day>,
    ) -> Result<Customers, ClientError> {
        Ok(Customers::read(input, unit, observation_end, holdout_end, false)?.0)
    }

    /// As [`open`](Self::open) for a fit: a summary file's holdout columns are read too
    /// (they are the holdout the model is judged on); also the number of rows of a
    /// transaction log read (`None` for summaries).
    pub(super) fn open_for_fit(
        input: &InputOptions,
        unit: TimeUnit,
        observation_end: Option<Day>,
        holdout_end: Option<Day>,
    ) -> Result<(Customers, Option<u64>), ClientError> {
        Customers::read(input, unit, observation_end, holdout_end, true)
    }

    fn read(
        input: &InputOptions,
        unit: TimeUnit,
        observation_end: Option<Day>,
        holdout_end: Option<Day>,
        with_holdout: bool,
    ) -> Result<(Customers, Option<u64>), ClientError> {
        match input.kind()? {
            InputKind::Summaries => {
                if holdout_end.is_some() {
                    return Err(ClientError::Invalid(
                        "--holdout-end needs a transaction log, not summaries (a summary \
                         file's holdout is its frequency_holdout and duration_holdout \
                         columns)"
                            .into(),
                    ));
                }
                let reader = if with_holdout {
                    input.summaries_with_holdout(CHUNK)?
                } else {
                    input.summaries(CHUNK)?
                };
                Ok((Customers::File(reader, 0), None))
            }
            _ => {
                let end = observation_end.ok_or_else(|| {
                    ClientError::Invalid(
                        "--observation-end is required with a transaction log".into(),
                    )
                })?;
                let (obs, cal) = match holdout_end {
                    Some(h) => (h, Some(end)),
                    None => (end, None),
                };
                let out = input.summarize(unit, obs, cal)?;
                if out.stats.rows_skipped > 0 {
                    eprintln!(
                        "custval: skipped {} bad rows of {} ({:?})",
                        out.stats.rows_skipped, out.stats.rows_read, out.stats.skipped_by_reason
                    );
                }
                if out.stats.rows_after_end > 0 {
                    eprintln!(
                        "custval: left out {} rows of {} dated after {obs} (--ignore-later-rows)",
                        out.stats.rows_after_end, out.stats.rows_read
                    );
                }
                let rows = out.stats.rows_used;
                Ok((Customers::Table(Arc::new(out.table), 0), Some(rows)))
            }
        }
    }

    pub(super) fn next_chunk(&mut self) -> Result<Option<pb::SummaryColumns>, ClientError> {
        match self {
            Customers::File(r, skip) => loop {
                let Some(mut c) = r.next_chunk()? else {
                    return Ok(None);
                };
                let n = c.customer_id.len() as u64;
                if *skip >= n {
                    *skip -= n;
                    continue;
                }
                drop_front(&mut c, std::mem::take(skip) as usize);
                return Ok(Some(c));
            },
            Customers::Table(t, next) => {
                let start = *next;
                if start >= t.len() {
                    return Ok(None);
                }
                let end = (start + CHUNK).min(t.len());
                *next = end;
                Ok(Some(files::table_columns(t, start..end)))
            }
        }
    }

    /// The holdout's length in the unit read: of the log's holdout, or what a summary
    /// file's `duration_holdout` says (known once its chunks were read).
    pub(super) fn holdout_duration(&self) -> Option<f64> {
        match self {
            Customers::Table(t, _) => t.holdout.as_ref().map(|h| h.duration),
            Customers::File(r, _) => r.holdout_duration(),
        }
    }

    /// The holdout columns of a summary file being read, by name.
    pub(super) fn holdout_columns(&self) -> Vec<&'static str> {
        match self {
            Customers::Table(..) => vec![],
            Customers::File(r, _) => r.holdout_columns(),
        }
    }

    /// The table summarized here from a transaction log (`None` for a summary file).
    pub(super) fn table(&self) -> Option<&custval_model::CustomerTable> {
        match self {
            Customers::Table(t, _) => Some(t),
            Customers::File(..) => None,
        }
    }

    /// How much of the input has been read, once something has.
    pub(super) fn fraction_read(&self) -> Option<f64> {
        match self {
            Customers::Table(t, next) => (*next > 0).then(|| *next as f64 / t.len() as f64),
            Customers::File(r, _) => r.fraction_read(),
        }
    }

    pub(super) fn source(&self, input: &InputOptions) -> Source {
        match self {
            Customers::Table(t, _) => Source::Table(t.clone()),
            Customers::File(..) => Source::File(Box::new(input.clone())),
        }
    }
}

/// Removes the first `n` customers of a chunk.
fn drop_front(c: &mut pb::SummaryColumns, n: usize) {
    fn cut<T>(v: &mut Vec<T>, n: usize) {
        v.drain(..n.min(v.len()));
    }
    cut(&mut c.customer_id, n);
    cut(&mut c.frequency, n);
    cut(&mut c.recency, n);
    cut(&mut c.age, n);
    cut(&mut c.monetary_value, n);
    cut(&mut c.holdout_frequency, n);
    cut(&mut c.holdout_spend, n);
    cut(&mut c.calibration_spend, n);
}

/// Options shared by score, segment and recommend (and filled in by report).
#[derive(Debug, Clone, clap::Args)]
pub struct ScoringArgs {
    #[command(flatten)]
    pub input: InputOptions,
    /// Stored model name, as `fit --name` stored it (latest version unless --version;
    /// `--model` is the older spelling).
    #[arg(long, alias = "model")]
    pub name: String,
    /// Model version; 0 = the latest.
    #[arg(long, default_value_t = 0)]
    pub version: u64,
    /// Horizon of expected purchases, propensity and CLV, in days.
    #[arg(long, default_value_t = 365.0)]
    pub horizon_days: f64,
    /// Annual discount rate of CLV (e.g. 0.1 for 10% a year).
    #[arg(long, default_value_t = 0.0)]
    pub discount_rate: f64,
    /// Unit of recency and T in a summary file (day, week, month, year); a transaction
    /// log is summarized in the model's unit.
    #[arg(long, value_enum, default_value = "week", hide_possible_values = true)]
    pub time_unit: TimeUnitArg,
    /// "Now" for a transaction log, YYYY-MM-DD.
    #[arg(long)]
    pub observation_end: Option<String>,
    /// Rows after `observation_end` up to this day are read as a holdout and left out
    /// (the report's log spans calibration and holdout).
    #[arg(skip)]
    pub holdout_end: Option<String>,
}

impl ScoringArgs {
    fn options(&self, unit: TimeUnit) -> pb::ScoreOptions {
        pb::ScoreOptions {
            request_id: format!("custval-cli-{}", std::process::id()),
            model_name: self.name.clone(),
            model_version: self.version,
            horizon: Some(pb::Duration {
                value: self.horizon_days,
                unit: pb::TimeUnit::Day as i32,
            }),
            discount: (self.discount_rate != 0.0).then_some(pb::DiscountRate {
                rate: self.discount_rate,
                period: Some(pb::Duration {
                    value: 1.0,
                    unit: pb::TimeUnit::Year as i32,
                }),
            }),
            time_unit: unit_to_proto(unit),
            observation_end: None,
        }
    }

    /// The model's unit (logs are summarized in it) and the customers.
    pub(super) async fn customers(
        &self,
        conn: &Connection,
    ) -> Result<(pb::ScoreOptions, Customers), ClientError> {
        let kind = self.input.kind()?;
        let unit = if kind == InputKind::Summaries {
            self.time_unit.unit()
        } else {
            let m = conn.get_model(&self.name, self.version).await?;
            crate::report::time_unit_from_proto(m.time_unit).unwrap_or(TimeUnit::Week)
        };
        let obs = self
            .observation_end
            .as_deref()
            .map(|d| parse_day(d, "--observation-end"))
            .transpose()?;
        let hold = self
            .holdout_end
            .as_deref()
            .map(|d| parse_day(d, "--holdout-end"))
            .transpose()?;
        let customers = Customers::open(&self.input, unit, obs, hold)?;
        Ok((self.options(unit), customers))
    }
}

/// All customers of the input in one message (segment and recommend need the whole set).
pub(super) async fn whole(
    a: &ScoringArgs,
    conn: &Connection,
) -> Result<(pb::ScoreOptions, pb::SummaryColumns), ClientError> {
    let (options, mut customers) = a.customers(conn).await?;
    let mut all = pb::SummaryColumns::default();
    while let Some(c) = customers.next_chunk()? {
        all.customer_id.extend(c.customer_id);
        all.frequency.extend(c.frequency);
        all.recency.extend(c.recency);
        all.age.extend(c.age);
        all.monetary_value.extend(c.monetary_value);
    }
    Ok((options, all))
}
