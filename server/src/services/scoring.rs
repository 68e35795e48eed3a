//! The `Scoring` service: score (unary and streamed), segment and recommend with a stored
//! model.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use custval_proto::v1 as pb;
use pb::scoring_server::Scoring;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{AppState, next_message};
use crate::admission::{Permit, Worker, deadline, join, past, within_deadline};
use crate::cancel;
use crate::cost::{self, Cost};
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
        let req = request.into_inner();
        let (n, field) = cost::batch(&req.customers, req.summary_columns.as_ref());
        self.0
            .admission
            .unary(
                "Score",
                deadline,
                Cost::score(n, field),
                |permit| async move {
                    let registry = self.0.registry()?;
                    let setup = ScoreSetup::parse(req.options.as_ref(), &registry, "options")?;
                    let context = setup.context.clone();
                    let scores = permit
                        .run(n as u64, move || {
                            setup.rows(req.customers, req.summary_columns, max)
                        })
                        .await?;
                    self.0.metrics.scored(scores.len());
                    Ok(pb::ScoreResponse {
                        context: Some(context),
                        scores,
                    })
                },
            )
            .await
    }

    async fn segment(
        &self,
        request: Request<pb::SegmentRequest>,
    ) -> Result<Response<pb::SegmentResponse>, Status> {
        let max = self.0.limits.max_batch_customers;
        let deadline = deadline(&request);
        let req = request.into_inner();
        let (n, field) = cost::batch(&req.customers, req.summary_columns.as_ref());
        let cost = Cost::segment(n, field, req.segment_options.as_ref());
        self.0
            .admission
            .unary("Segment", deadline, cost, |permit| async move {
                let registry = self.0.registry()?;
                let setup = ScoreSetup::parse(req.options.as_ref(), &registry, "options")?;
                let store = req.store;
                let request = cancel::current();
                let stop = request.token();
                let (mut response, segments, record) = permit
                    .blocking(move || {
                        let (response, segments) = segmenting::segment(&setup, req, max, &stop)?;
                        Ok((response, segments, setup.record.clone()))
                    })
                    .await?;
                if store {
                    let mut updated = (*record).clone();
                    updated.segments = Some(segments);
                    permit
                        .blocking(move || {
                            if past(deadline) {
                                return Err(ApiError::DeadlineExceeded(
                                    "the segmentation was stored",
                                ));
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
        let req = request.into_inner();
        let (n, field) = cost::batch(&req.customers, req.summary_columns.as_ref());
        // Without a stored segmentation the batch is segmented with the default options.
        let cost = Cost::segment(n, field, None);
        self.0
            .admission
            .unary("Recommend", deadline, cost, |permit| async move {
                let registry = self.0.registry()?;
                let setup = ScoreSetup::parse(req.options.as_ref(), &registry, "options")?;
                let stop = cancel::current().token();
                let response = permit
                    .blocking(move || segmenting::recommend(&setup, req, max, &stop))
                    .await?;
                self.0.metrics.scored(response.recommendations.len());
                Ok(response)
            })
            .await
    }

    type ScoreStreamStream = Replies;

    async fn score_stream(
        &self,
        request: Request<Streaming<pb::ScoreStreamRequest>>,
    ) -> Result<Response<Self::ScoreStreamStream>, Status> {
        let state = self.0.clone();
        let deadline = deadline(&request);
        let (admitted, registry) = state
            .admission
            .admit_stream("ScoreStream", deadline, || state.registry())
            .await?;
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_PIPELINE);
        let (end_tx, end_rx) = oneshot::channel();
        tokio::spawn(async move {
            let permit = admitted.permit().clone();
            let streamed = stream_scores(&state, &registry, &permit, deadline, inbound, &tx);
            // The stream's token fires when it ends: chunks not yet started skip their
            // work, and the place is freed once the chunk work has stopped (each chunk
            // holds the permit).
            let shutdown = state.admission.shutdown().clone();
            let scored = cancel::scope(
                &shutdown,
                &state.metrics,
                within_deadline(deadline, streamed),
            );
            let error = scored.await.err().map(Status::from);
            drop(permit);
            admitted.finish(error.as_ref());
            if let Some(status) = error {
                let _ = end_tx.send(status);
            }
        });
        Ok(Response::new(Replies {
            scores: ReceiverStream::new(rx),
            end: Some(end_rx),
        }))
    }
}

/// ScoreStream's replies: the scored chunks in order, then the error that ended the
/// stream, if one did (even when the client stopped reading and the chunk queue is full).
#[derive(Debug)]
pub struct Replies {
    scores: ReceiverStream<pb::ScoreStreamResponse>,
    end: Option<oneshot::Receiver<Status>>,
}

impl Stream for Replies {
    type Item = Result<pb::ScoreStreamResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.scores).poll_next(cx) {
            Poll::Ready(Some(r)) => return Poll::Ready(Some(Ok(r))),
            Poll::Pending => return Poll::Pending,
            // Every chunk sent: the error, if any, comes next.
            Poll::Ready(None) => {}
        }
        let Some(end) = self.end.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(end).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(outcome) => {
                self.end = None;
                Poll::Ready(outcome.ok().map(Err))
            }
        }
    }
}

type PendingChunk = Worker<(usize, pb::ScoreStreamResponse)>;

/// Reads chunks, scores each on the blocking pool (holding the stream's place, and the
/// chunk's own share of the limit beyond it, see `Admission::widen`) while the next one
/// is read, and sends the results in order. Returns when the client's stream
/// ends or the client goes away; a stream above --max-stream-customers in total, or idle
/// for --stream-idle-seconds, is ended with an error.
async fn stream_scores(
    state: &AppState,
    registry: &Registry,
    permit: &Permit,
    deadline: Option<std::time::Instant>,
    mut inbound: Streaming<pb::ScoreStreamRequest>,
    tx: &mpsc::Sender<pb::ScoreStreamResponse>,
) -> Result<(), ApiError> {
    let limits = state.limits;
    let mut setup: Option<Arc<ScoreSetup>> = None;
    let mut pending: VecDeque<PendingChunk> = VecDeque::new();
    let mut chunk = 0u64;
    let mut total = 0usize;
    let request = cancel::current();
    loop {
        let msg = match next_message(&mut inbound, limits.stream_idle).await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(ApiError::Cancelled) => return Ok(()),
            Err(e) => return Err(e),
        };
        let prefix = format!("chunks[{chunk}]");
        let (n, field) = cost::batch(&msg.customers, msg.summary_columns.as_ref());
        total = total.saturating_add(n);
        if total > limits.max_stream_customers {
            return Err(ApiError::invalid(
                format!("{prefix}.{field}"),
                format!(
                    "{total} customers in one stream is above the limit of {} \
                     (--max-stream-customers): split the job into several streams",
                    limits.max_stream_customers
                ),
            ));
        }
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
        let chunk_cost = Cost::score(n, &format!("{prefix}.{field}"));
        let wider = state.admission.widen(&chunk_cost, deadline).await?;
        let index = chunk;
        let max = limits.max_batch_customers;
        let request = request.clone();
        pending.push_back(permit.spawn_blocking(move || {
            let _wider = wider;
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

/// Sends the oldest pending chunk; false when the client has gone. A client that reads
/// nothing for --stream-idle-seconds ends the stream (it would hold its place for ever).
async fn send_next(
    state: &AppState,
    pending: &mut VecDeque<PendingChunk>,
    tx: &mpsc::Sender<pb::ScoreStreamResponse>,
) -> Result<bool, ApiError> {
    let Some(handle) = pending.pop_front() else {
        return Ok(true);
    };
    let (n, response) = join(handle).await?;
    let idle = state.limits.stream_idle;
    match tokio::time::timeout(idle, tx.send(response)).await {
        Ok(Ok(())) => {
            state.metrics.scored(n);
            Ok(true)
        }
        Ok(Err(_)) => Ok(false),
        Err(_) => Err(ApiError::StreamIdle(idle)),
    }
}
