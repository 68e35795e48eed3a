//! The prebuilt calls of a bench: simulated customers encoded before the timed region, so
//! a call only sends bytes, and the check of each reply.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use custval_model::CustomerTable;
use custval_proto::v1 as pb;
use prost::Message;
use tonic::Request;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;

use super::options::{BenchOptions, Rpc};
use super::record::{INVALID_RESPONSE, Outcome};
use crate::codec::PreEncoded;
use crate::connect::AuthChannel;
use crate::error::{ClientError, code_name};

/// At most this many distinct customers are encoded for unary Score requests (requests
/// are reused round-robin).
const SCORE_POOL_CUSTOMERS: usize = 100_000;
/// At most this many distinct prebuilt unary requests.
const SCORE_POOL_REQUESTS: usize = 1024;
/// At most this many distinct customers are encoded for a stream (chunks are reused).
const STREAM_POOL_CUSTOMERS: usize = 1_000_000;

const SCORE_PATH: &str = "/custval.v1.Scoring/Score";
const SCORE_STREAM_PATH: &str = "/custval.v1.Scoring/ScoreStream";
const FIT_PATH: &str = "/custval.v1.Models/FitModel";
const SEGMENT_PATH: &str = "/custval.v1.Scoring/Segment";

#[derive(Debug)]
enum Calls {
    /// Encoded ScoreRequests, sent round-robin.
    Score(Vec<Bytes>),
    /// The encoded chunks of one ScoreStream call, in order (the first has the options).
    Stream(Vec<Bytes>),
    /// One encoded FitModelRequest.
    Fit(Bytes),
    /// Encoded SegmentRequests, sent round-robin.
    Segment(Vec<Bytes>),
}

/// The prebuilt calls of a bench and how to check their replies.
#[derive(Debug)]
pub(super) struct Workload {
    calls: Calls,
    pub(super) customers_per_request: u64,
    timeout: Duration,
    /// Versions created by the fit bench, for the clean-up.
    pub(super) fitted: Mutex<Vec<u64>>,
}

/// Simulated BG/NBD + Gamma-Gamma customers with CDNOW-like parameters, in weeks
/// (52-week calibration, births over the first 26 weeks).
pub fn simulated_customers(n: usize, seed: u64) -> Result<CustomerTable, ClientError> {
    use custval_model::simulate::{SimulationSpec, simulate_summaries};
    Ok(simulate_summaries(&SimulationSpec::cdnow_like(n.max(1), seed, 52.0))?.table)
}

fn weeks(value: f64) -> pb::Duration {
    pb::Duration {
        value,
        unit: pb::TimeUnit::Week as i32,
    }
}

/// Options of every bench score: 52 weeks, 1% per month, summaries in weeks.
pub fn score_options(model: &str) -> pb::ScoreOptions {
    pb::ScoreOptions {
        request_id: "custval-bench".into(),
        model_name: model.into(),
        model_version: 0,
        horizon: Some(weeks(52.0)),
        discount: Some(pb::DiscountRate {
            rate: 0.01,
            period: Some(pb::Duration {
                value: 1.0,
                unit: pb::TimeUnit::Month as i32,
            }),
        }),
        time_unit: pb::TimeUnit::Week as i32,
        observation_end: None,
    }
}

/// A BG/NBD + Gamma-Gamma fit spec in weeks.
pub fn fit_spec(name: &str) -> pb::FitSpec {
    pb::FitSpec {
        name: name.into(),
        transaction_model: pb::TransactionModelKind::BgNbd as i32,
        spend_model: pb::SpendModelKind::GammaGamma as i32,
        time_unit: pb::TimeUnit::Week as i32,
        ..Default::default()
    }
}

fn encode(m: &impl Message) -> Bytes {
    Bytes::from(m.encode_to_vec())
}

impl Workload {
    /// Simulates and encodes everything the bench will send (CPU-bound; off the runtime).
    pub(super) fn build(opts: &BenchOptions) -> Result<Workload, ClientError> {
        let batch = opts.batch();
        let (calls, customers_per_request) = match opts.rpc {
            Rpc::Score | Rpc::Segment => {
                let n = SCORE_POOL_CUSTOMERS
                    .div_ceil(batch)
                    .clamp(1, SCORE_POOL_REQUESTS);
                let t = simulated_customers(n * batch, opts.seed)?;
                let options = score_options(&opts.name);
                let columns =
                    |i: usize| Some(crate::files::table_columns(&t, i * batch..(i + 1) * batch));
                let requests = (0..n).map(|i| match opts.rpc {
                    Rpc::Segment => encode(&pb::SegmentRequest {
                        options: Some(options.clone()),
                        summary_columns: columns(i),
                        ..Default::default()
                    }),
                    _ => encode(&pb::ScoreRequest {
                        options: Some(options.clone()),
                        customers: Vec::new(),
                        summary_columns: columns(i),
                    }),
                });
                let requests = requests.collect();
                let calls = match opts.rpc {
                    Rpc::Segment => Calls::Segment(requests),
                    _ => Calls::Score(requests),
                };
                (calls, batch as u64)
            }
            Rpc::ScoreStream => {
                let total = opts.stream_customers;
                let chunk = batch.min(total);
                let chunks = total.div_ceil(chunk);
                let pool = chunks.min(STREAM_POOL_CUSTOMERS.div_ceil(chunk)).max(1);
                let t = simulated_customers(pool * chunk, opts.seed)?;
                let options = score_options(&opts.name);
                let message = |p: usize, size: usize, first: bool| {
                    encode(&pb::ScoreStreamRequest {
                        options: first.then(|| options.clone()),
                        customers: Vec::new(),
                        summary_columns: Some(crate::files::table_columns(
                            &t,
                            p * chunk..p * chunk + size,
                        )),
                    })
                };
                let full: Vec<Bytes> = (0..pool).map(|p| message(p, chunk, false)).collect();
                let sequence = (0..chunks)
                    .map(|i| {
                        let size = chunk.min(total - i * chunk);
                        if i == 0 || size < chunk {
                            message(i % pool, size, i == 0)
                        } else {
                            full[i % pool].clone()
                        }
                    })
                    .collect();
                (Calls::Stream(sequence), total as u64)
            }
            Rpc::Fit => {
                let t = simulated_customers(batch, opts.seed)?;
                let request = encode(&pb::FitModelRequest {
                    spec: Some(fit_spec(&opts.fit_name)),
                    customers: Vec::new(),
                    summary_columns: Some(crate::files::table_columns(&t, 0..batch)),
                });
                (Calls::Fit(request), batch as u64)
            }
        };
        Ok(Workload {
            calls,
            customers_per_request,
            timeout: opts.timeout,
            fitted: Mutex::new(Vec::new()),
        })
    }

    pub(super) fn chunks_per_stream(&self) -> Option<u64> {
        match &self.calls {
            Calls::Stream(c) => Some(c.len() as u64),
            _ => None,
        }
    }

    /// Sends call number `k` and checks the reply. Never longer than the deadline (plus
    /// a second for a server that ignores it).
    pub(super) async fn call(&self, grpc: &mut Grpc<AuthChannel>, k: u64) -> Outcome {
        let limit = self.timeout + Duration::from_secs(1);
        match tokio::time::timeout(limit, self.send(grpc, k)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Failed(code_name(tonic::Code::DeadlineExceeded)),
        }
    }

    async fn send(&self, grpc: &mut Grpc<AuthChannel>, k: u64) -> Outcome {
        let failed = |s: tonic::Status| Outcome::Failed(code_name(s.code()));
        if grpc.ready().await.is_err() {
            return Outcome::Failed(code_name(tonic::Code::Unavailable));
        }
        let expected = self.customers_per_request as usize;
        match &self.calls {
            Calls::Score(requests) => {
                let body = requests[(k % requests.len() as u64) as usize].clone();
                let mut request = Request::new(body);
                request.set_timeout(self.timeout);
                let path = PathAndQuery::from_static(SCORE_PATH);
                match grpc
                    .unary(request, path, PreEncoded::<pb::ScoreResponse>::default())
                    .await
                {
                    Ok(r) if r.get_ref().scores.len() == expected => Outcome::Ok,
                    Ok(_) => Outcome::Failed(INVALID_RESPONSE),
                    Err(s) => failed(s),
                }
            }
            Calls::Segment(requests) => {
                let body = requests[(k % requests.len() as u64) as usize].clone();
                let mut request = Request::new(body);
                request.set_timeout(self.timeout);
                let path = PathAndQuery::from_static(SEGMENT_PATH);
                match grpc
                    .unary(request, path, PreEncoded::<pb::SegmentResponse>::default())
                    .await
                {
                    Ok(r) if r.get_ref().customers.len() == expected => Outcome::Ok,
                    Ok(_) => Outcome::Failed(INVALID_RESPONSE),
                    Err(s) => failed(s),
                }
            }
            Calls::Stream(chunks) => {
                let mut request = Request::new(tokio_stream::iter(chunks.clone()));
                request.set_timeout(self.timeout);
                let path = PathAndQuery::from_static(SCORE_STREAM_PATH);
                let mut replies = match grpc
                    .streaming(
                        request,
                        path,
                        PreEncoded::<pb::ScoreStreamResponse>::default(),
                    )
                    .await
                {
                    Ok(r) => r.into_inner(),
                    Err(s) => return failed(s),
                };
                let (mut seen, mut index) = (0usize, 0u64);
                loop {
                    match replies.message().await {
                        Ok(Some(r)) => {
                            if r.chunk != index {
                                return Outcome::Failed(INVALID_RESPONSE);
                            }
                            seen += r.scores.map_or(0, |s| s.customer_id.len());
                            index += 1;
                        }
                        Ok(None) => break,
                        Err(s) => return failed(s),
                    }
                }
                if seen == expected && index == chunks.len() as u64 {
                    Outcome::Ok
                } else {
                    Outcome::Failed(INVALID_RESPONSE)
                }
            }
            Calls::Fit(body) => {
                let mut request = Request::new(body.clone());
                request.set_timeout(self.timeout);
                let path = PathAndQuery::from_static(FIT_PATH);
                match grpc
                    .unary(request, path, PreEncoded::<pb::FitModelResponse>::default())
                    .await
                {
                    Ok(r) => match r.into_inner().model {
                        Some(m) => {
                            self.fitted
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(m.version);
                            Outcome::Ok
                        }
                        None => Outcome::Failed(INVALID_RESPONSE),
                    },
                    Err(s) => failed(s),
                }
            }
        }
    }
}
