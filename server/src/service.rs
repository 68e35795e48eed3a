//! The custval.v1 services: request plumbing around the fit and score pipelines. Every
//! call is admitted (or shed), timed and counted here; CPU-heavy work goes to the
//! blocking pool so the runtime keeps answering health checks and small scores.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use custval_proto::v1 as pb;
use pb::models_server::Models;
use pb::scoring_server::Scoring;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::admission::{
    Admission, Worker, blocking, deadline, join, past, sized, spawn_blocking, within_deadline,
};
use crate::error::ApiError;
use crate::fitting::{self, FitSpec};
use crate::input::TableBuilder;
use crate::metrics::Metrics;
use crate::record::ModelRecord;
use crate::registry::Registry;
use crate::scoring::ScoreSetup;
use crate::segmenting;
use crate::wire;

/// Limits applied to request content.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_batch_customers: usize,
    pub max_fit_customers: usize,
    pub max_concurrent_requests: usize,
}

/// State shared by the services.
#[derive(Debug)]
pub struct AppState {
    /// Set once the store is loaded; until then custval.v1 calls are UNAVAILABLE.
    registry: OnceLock<Arc<Registry>>,
    limits: Limits,
    admission: Admission,
    metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(limits: Limits, metrics: Arc<Metrics>) -> AppState {
        AppState {
            registry: OnceLock::new(),
            admission: Admission::new(limits.max_concurrent_requests, metrics.clone()),
            limits,
            metrics,
        }
    }

    /// Makes the registry available; returns false if one was already set.
    pub fn set_registry(&self, registry: Arc<Registry>) -> bool {
        self.registry.set(registry).is_ok()
    }

    fn registry(&self) -> Result<Arc<Registry>, ApiError> {
        self.registry.get().cloned().ok_or(ApiError::Unavailable)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ModelsService(pub Arc<AppState>);

impl ModelsService {
    /// Finishes the table, fits, and stores the result unless the deadline has passed.
    async fn fit_and_store(
        &self,
        spec: FitSpec,
        builder: TableBuilder,
        deadline: Option<Instant>,
    ) -> Result<pb::FitModelResponse, ApiError> {
        let registry = self.0.registry()?;
        let metrics = self.0.metrics.clone();
        let stored: Arc<ModelRecord> = blocking(move || {
            let decoded = builder.finish()?;
            let record = fitting::fit(&spec, decoded, now_ms())?;
            if past(deadline) {
                return Err(ApiError::DeadlineExceeded("the model was stored"));
            }
            let customers = record.training.customers as usize;
            let stored = registry.insert(record)?;
            metrics.fitted(customers);
            tracing::info!(name = %stored.name, version = stored.version, customers,
                seconds = stored.training.fit_seconds, "model fitted and stored");
            Ok(stored)
        })
        .await?;
        Ok(pb::FitModelResponse {
            model: Some(wire::model_to_proto(&stored)),
        })
    }
}

#[tonic::async_trait]
impl Models for ModelsService {
    async fn fit_model(
        &self,
        request: Request<pb::FitModelRequest>,
    ) -> Result<Response<pb::FitModelResponse>, Status> {
        let deadline = deadline(&request);
        let max = self.0.limits.max_batch_customers;
        self.0
            .admission
            .unary("FitModel", deadline, async move {
                self.0.registry()?;
                let req = request.into_inner();
                let spec = FitSpec::parse(req.spec.as_ref())?;
                let settings = spec.input_settings(max);
                let builder = blocking(move || {
                    let mut b = TableBuilder::new(settings);
                    b.add(req.customers, req.summary_columns)?;
                    Ok(b)
                })
                .await?;
                self.fit_and_store(spec, builder, deadline).await
            })
            .await
    }

    async fn fit_model_stream(
        &self,
        request: Request<Streaming<pb::FitModelChunk>>,
    ) -> Result<Response<pb::FitModelResponse>, Status> {
        let deadline = deadline(&request);
        let max = self.0.limits.max_fit_customers;
        self.0
            .admission
            .unary("FitModelStream", deadline, async move {
                self.0.registry()?;
                let mut inbound = request.into_inner();
                let mut state: Option<(FitSpec, TableBuilder)> = None;
                let mut chunk = 0usize;
                while let Some(msg) = inbound.message().await.map_err(stream_error)? {
                    let prefix = format!("chunks[{chunk}]");
                    let (spec, mut builder) = match state.take() {
                        None => {
                            let spec =
                                FitSpec::parse(msg.spec.as_ref()).map_err(|e| e.within(&prefix))?;
                            let builder = TableBuilder::new(spec.input_settings(max));
                            (spec, builder)
                        }
                        Some(s) if msg.spec.is_some() => {
                            drop(s);
                            return Err(ApiError::invalid(
                                format!("{prefix}.spec"),
                                "only the first chunk carries the spec",
                            ));
                        }
                        Some(s) => s,
                    };
                    builder = blocking(move || {
                        builder
                            .add(msg.customers, msg.summary_columns)
                            .map_err(|e| e.within(&prefix))?;
                        Ok(builder)
                    })
                    .await?;
                    state = Some((spec, builder));
                    chunk += 1;
                }
                let (spec, builder) =
                    state.ok_or_else(|| ApiError::invalid("chunks", "the stream had no chunks"))?;
                self.fit_and_store(spec, builder, deadline).await
            })
            .await
    }

    async fn get_model(
        &self,
        request: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::GetModelResponse>, Status> {
        let deadline = deadline(&request);
        self.0
            .admission
            .unary("GetModel", deadline, async {
                let req = request.into_inner();
                wire::model_name(&req.name, "name")?;
                let record = self.0.registry()?.get(&req.name, req.version)?;
                Ok(pb::GetModelResponse {
                    model: Some(wire::model_to_proto(&record)),
                })
            })
            .await
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let deadline = deadline(&request);
        self.0
            .admission
            .unary("ListModels", deadline, async {
                let req = request.into_inner();
                let name = (!req.name.is_empty()).then_some(req.name.as_str());
                if let Some(n) = name {
                    wire::model_name(n, "name")?;
                }
                let models = self
                    .0
                    .registry()?
                    .list(name)
                    .iter()
                    .map(|r| wire::version_summary_to_proto(r))
                    .collect();
                Ok(pb::ListModelsResponse { models })
            })
            .await
    }

    async fn delete_model(
        &self,
        request: Request<pb::DeleteModelRequest>,
    ) -> Result<Response<pb::DeleteModelResponse>, Status> {
        let deadline = deadline(&request);
        self.0
            .admission
            .unary("DeleteModel", deadline, async {
                let req = request.into_inner();
                wire::model_name(&req.name, "name")?;
                let registry = self.0.registry()?;
                let deleted = blocking(move || registry.delete(&req.name, req.version)).await?;
                Ok(pb::DeleteModelResponse {
                    deleted_versions: deleted,
                })
            })
            .await
    }

    async fn model_metadata(
        &self,
        request: Request<pb::ModelMetadataRequest>,
    ) -> Result<Response<pb::ModelMetadataResponse>, Status> {
        let deadline = deadline(&request);
        self.0
            .admission
            .unary("ModelMetadata", deadline, async {
                let req = request.into_inner();
                wire::model_name(&req.name, "name")?;
                let record = self.0.registry()?.get(&req.name, req.version)?;
                Ok(wire::metadata_to_proto(&record))
            })
            .await
    }
}

/// A failure reading the client's stream (malformed or oversized message, reset).
fn stream_error(status: Status) -> ApiError {
    match status.code() {
        Code::Cancelled => ApiError::Cancelled,
        _ => ApiError::invalid("chunks", status.message().to_owned()),
    }
}

// ---------------------------------------------------------------------------------------
// Scoring
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ScoringService(pub Arc<AppState>);

/// Score chunks in flight per stream: one being scored while the next is decoded.
const STREAM_PIPELINE: usize = 2;

#[tonic::async_trait]
impl Scoring for ScoringService {
    async fn score(
        &self,
        request: Request<pb::ScoreRequest>,
    ) -> Result<Response<pb::ScoreResponse>, Status> {
        let max = self.0.limits.max_batch_customers;
        let deadline = deadline(&request);
        self.0
            .admission
            .unary("Score", deadline, async {
                let registry = self.0.registry()?;
                let req = request.into_inner();
                let setup = ScoreSetup::parse(req.options.as_ref(), &registry, "options")?;
                let n = req.customers.len()
                    + req
                        .summary_columns
                        .as_ref()
                        .map_or(0, |c| c.customer_id.len());
                let context = setup.context.clone();
                let scores =
                    sized(n, move || setup.rows(req.customers, req.summary_columns, max)).await?;
                self.0.metrics.scored(scores.len());
                Ok(pb::ScoreResponse {
                    context: Some(context),
                    scores,
                })
            })
            .await
    }

    async fn segment(
        &self,
        request: Request<pb::SegmentRequest>,
    ) -> Result<Response<pb::SegmentResponse>, Status> {
        let max = self.0.limits.max_batch_customers;
        let deadline = deadline(&request);
        self.0
            .admission
            .unary("Segment", deadline, async {
                let registry = self.0.registry()?;
                let req = request.into_inner();
                let setup = ScoreSetup::parse(req.options.as_ref(), &registry, "options")?;
                let store = req.store;
                let (mut response, segments, record) = blocking(move || {
                    let (response, segments) = segmenting::segment(&setup, req, max)?;
                    Ok((response, segments, setup.record.clone()))
                })
                .await?;
                if store {
                    let mut updated = (*record).clone();
                    updated.segments = Some(segments);
                    blocking(move || {
                        if past(deadline) {
                            return Err(ApiError::DeadlineExceeded("the segmentation was stored"));
                        }
                        registry.replace(updated)
                    })
                    .await?;
                    response.stored = true;
                }
                self.0.metrics.scored(response.customers.len());
                Ok(response)
            })
            .await
    }

    async fn recommend(
        &self,
        request: Request<pb::RecommendRequest>,
    ) -> Result<Response<pb::RecommendResponse>, Status> {
        let max = self.0.limits.max_batch_customers;
        let deadline = deadline(&request);
        self.0
            .admission
            .unary("Recommend", deadline, async {
                let registry = self.0.registry()?;
                let req = request.into_inner();
                let setup = ScoreSetup::parse(req.options.as_ref(), &registry, "options")?;
                let response = blocking(move || segmenting::recommend(&setup, req, max)).await?;
                self.0.metrics.scored(response.recommendations.len());
                Ok(response)
            })
            .await
    }

    type ScoreStreamStream = ReceiverStream<Result<pb::ScoreStreamResponse, Status>>;

    async fn score_stream(
        &self,
        request: Request<Streaming<pb::ScoreStreamRequest>>,
    ) -> Result<Response<Self::ScoreStreamStream>, Status> {
        let state = self.0.clone();
        let call = state.admission.start("ScoreStream");
        let admitted = state
            .admission
            .admit()
            .and_then(|permit| Ok((permit, state.registry()?)));
        let (permit, registry) = match admitted {
            Ok(ok) => ok,
            Err(e) => {
                let status = Status::from(e);
                call.finish(status.code());
                return Err(status);
            }
        };
        let deadline = deadline(&request);
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_PIPELINE);
        tokio::spawn(async move {
            let scored = within_deadline(deadline, stream_scores(&state, &registry, inbound, &tx));
            let code = match scored.await {
                Ok(()) => Code::Ok,
                Err(e) => {
                    let status = Status::from(e);
                    let code = status.code();
                    let _ = tx.send(Err(status)).await;
                    code
                }
            };
            call.finish(code);
            drop(permit);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

type PendingChunk = Worker<(usize, pb::ScoreStreamResponse)>;

/// Reads chunks, scores each on the blocking pool while the next one is read, and sends
/// the results in order. Returns when the client's stream ends or the client goes away.
async fn stream_scores(
    state: &AppState,
    registry: &Registry,
    mut inbound: Streaming<pb::ScoreStreamRequest>,
    tx: &mpsc::Sender<Result<pb::ScoreStreamResponse, Status>>,
) -> Result<(), ApiError> {
    let max = state.limits.max_batch_customers;
    let mut setup: Option<Arc<ScoreSetup>> = None;
    let mut pending: VecDeque<PendingChunk> = VecDeque::new();
    let mut chunk = 0u64;
    loop {
        let msg = match inbound.message().await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(status) if status.code() == Code::Cancelled => return Ok(()),
            Err(status) => return Err(stream_error(status)),
        };
        let prefix = format!("chunks[{chunk}]");
        let first = setup.is_none();
        let s = match &setup {
            None => {
                let parsed = ScoreSetup::parse(msg.options.as_ref(), registry, "options")
                    .map_err(|e| e.within(&prefix))?;
                setup.insert(Arc::new(parsed)).clone()
            }
            Some(_) if msg.options.is_some() => {
                return Err(ApiError::invalid(
                    format!("{prefix}.options"),
                    "only the first chunk carries options",
                ));
            }
            Some(s) => s.clone(),
        };
        let index = chunk;
        pending.push_back(spawn_blocking(move || {
            let scores = s
                .columns(msg.customers, msg.summary_columns, max)
                .map_err(|e| e.within(&prefix))?;
            Ok((
                scores.customer_id.len(),
                pb::ScoreStreamResponse {
                    chunk: index,
                    context: first.then(|| s.context.clone()),
                    scores: Some(scores),
                },
            ))
        }));
        chunk += 1;
        while pending.len() >= STREAM_PIPELINE {
            if !send_next(state, &mut pending, tx).await? {
                return Ok(());
            }
        }
    }
    while !pending.is_empty() {
        if !send_next(state, &mut pending, tx).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// Sends the oldest pending chunk; false when the client has gone.
async fn send_next(
    state: &AppState,
    pending: &mut VecDeque<PendingChunk>,
    tx: &mpsc::Sender<Result<pb::ScoreStreamResponse, Status>>,
) -> Result<bool, ApiError> {
    let Some(handle) = pending.pop_front() else {
        return Ok(true);
    };
    let (n, response) = join(handle).await?;
    state.metrics.scored(n);
    Ok(tx.send(Ok(response)).await.is_ok())
}
