//! The `Scoring` service: score (unary and streamed), segment and recommend with a stored
//! model.

use std::collections::VecDeque;
use std::sync::Arc;

use custval_proto::v1 as pb;
use pb::scoring_server::Scoring;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};

use super::{AppState, stream_error};
use crate::admission::{
    Worker, blocking, deadline, join, past, sized, spawn_blocking, within_deadline,
};
use crate::cancel;
use crate::error::ApiError;
use crate::registry::Registry;
use crate::scoring::ScoreSetup;
use crate::segmenting;

/// `custval.v1.Scoring` over the shared [`AppState`].
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
                let scores = sized(n, move || {
                    setup.rows(req.customers, req.summary_columns, max)
                })
                .await?;
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
                let request = cancel::current();
                let stop = request.token();
                let (mut response, segments, record) = blocking(move || {
                    let (response, segments) = segmenting::segment(&setup, req, max, &stop)?;
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
                        request.store(&registry, |store| store.replace(record, updated))
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
                let stop = cancel::current().token();
                let response =
                    blocking(move || segmenting::recommend(&setup, req, max, &stop)).await?;
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
        let (admitted, registry) = state
            .admission
            .admit_stream("ScoreStream", || state.registry())?;
        let deadline = deadline(&request);
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_PIPELINE);
        tokio::spawn(async move {
            let mut pending = VecDeque::new();
            let streamed = stream_scores(&state, &registry, inbound, &tx, &mut pending);
            let shutdown = state.admission.shutdown().clone();
            let scored = cancel::scope(
                &shutdown,
                &state.metrics,
                (),
                within_deadline(deadline, streamed),
            );
            let code = match scored.await {
                Ok(()) => Code::Ok,
                Err(e) => {
                    let status = Status::from(e);
                    let code = status.code();
                    let _ = tx.send(Err(status)).await;
                    code
                }
            };
            // The request's token has fired: chunks not yet started skip their work. The
            // permit is freed once the chunk work has stopped.
            for worker in pending {
                let _ = worker.await;
            }
            admitted.finish(code);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

type PendingChunk = Worker<(usize, pb::ScoreStreamResponse)>;

/// Reads chunks, scores each on the blocking pool while the next one is read, and sends
/// the results in order. Returns when the client's stream ends or the client goes away,
/// leaving in `pending` the chunks still being scored.
async fn stream_scores(
    state: &AppState,
    registry: &Registry,
    mut inbound: Streaming<pb::ScoreStreamRequest>,
    tx: &mpsc::Sender<Result<pb::ScoreStreamResponse, Status>>,
    pending: &mut VecDeque<PendingChunk>,
) -> Result<(), ApiError> {
    let max = state.limits.max_batch_customers;
    let mut setup: Option<Arc<ScoreSetup>> = None;
    let request = cancel::current();
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
        let request = request.clone();
        pending.push_back(spawn_blocking(move || {
            // A chunk queued before the client went away is not scored after.
            request.check()?;
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
            if !send_next(state, pending, tx).await? {
                return Ok(());
            }
        }
    }
    while !pending.is_empty() {
        if !send_next(state, pending, tx).await? {
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
