//! The typed client: one method per custval.v1 call, each under the connection's
//! deadline and retry policy ([`crate::call`]). Commands use these, never the generated
//! stubs directly, so every call is retried and timed out the same way.

use std::future::Future;

use custval_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::call::{Retry, request};
use crate::connect::Connection;
use crate::error::ClientError;

impl Connection {
    /// One unary call: `send` gets a fresh connection handle and the request (with the
    /// time left as its grpc-timeout) for each attempt.
    async fn unary<Req, Resp, F, Fut>(
        &self,
        what: &str,
        retry: Retry,
        message: Req,
        send: F,
    ) -> Result<Resp, ClientError>
    where
        Req: Clone,
        F: Fn(Connection, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        self.policy()
            .run(what, retry, |left| {
                send(self.clone(), request(message.clone(), left))
            })
            .await
            .map(Response::into_inner)
    }

    /// A stored model (latest version when `version` is 0).
    pub async fn get_model(&self, name: &str, version: u64) -> Result<pb::Model, ClientError> {
        let message = pb::GetModelRequest {
            name: name.to_owned(),
            version,
        };
        self.unary(
            "getting the model",
            Retry::Idempotent,
            message,
            |c, r| async move { c.models().get_model(r).await },
        )
        .await?
        .model
        .ok_or_else(|| ClientError::Internal("the server returned no model".into()))
    }

    /// A stored model's training metadata.
    pub async fn model_metadata(
        &self,
        name: &str,
        version: u64,
    ) -> Result<pb::ModelMetadataResponse, ClientError> {
        let message = pb::ModelMetadataRequest {
            name: name.to_owned(),
            version,
        };
        self.unary(
            "getting the metadata",
            Retry::Idempotent,
            message,
            |c, r| async move { c.models().model_metadata(r).await },
        )
        .await
    }

    /// Every stored model version.
    pub async fn list_models(&self) -> Result<Vec<pb::ModelVersionSummary>, ClientError> {
        self.unary(
            "listing models",
            Retry::Idempotent,
            pb::ListModelsRequest::default(),
            |c, r| async move { c.models().list_models(r).await },
        )
        .await
        .map(|r| r.models)
    }

    /// The transaction model families the server can fit.
    pub async fn list_families(&self) -> Result<Vec<pb::Family>, ClientError> {
        self.unary(
            "listing model families",
            Retry::Idempotent,
            pb::ListFamiliesRequest::default(),
            |c, r| async move { c.models().list_families(r).await },
        )
        .await
        .map(|r| r.families)
    }

    /// Deletes one version, or every version when `version` is 0. Not resent: a delete
    /// that reached the server and is repeated would report nothing deleted.
    pub async fn delete_model(
        &self,
        name: &str,
        version: u64,
    ) -> Result<pb::DeleteModelResponse, ClientError> {
        let message = pb::DeleteModelRequest {
            name: name.to_owned(),
            version,
        };
        self.unary("deleting", Retry::Never, message, |c, r| async move {
            c.models().delete_model(r).await
        })
        .await
    }

    /// Fits and stores a model from chunks of customers (FitModelStream). Not resent: a
    /// fit that reached the server could be stored twice.
    pub async fn fit_stream<S>(&self, chunks: S) -> Result<pb::FitModelResponse, ClientError>
    where
        S: tokio_stream::Stream<Item = pb::FitModelChunk> + Send + 'static,
    {
        let mut chunks = Some(chunks);
        self.policy()
            .run("fit", Retry::Never, |left| {
                let stream = chunks.take();
                let mut models = self.models();
                async move {
                    // Retry::Never: a fit is sent once (its chunks are read as they go).
                    let stream =
                        stream.ok_or_else(|| Status::failed_precondition("a fit is sent once"))?;
                    models.fit_model_stream(request(stream, left)).await
                }
            })
            .await
            .map(Response::into_inner)
    }

    /// Backtests families on a transaction log (Backtest). Resent when nothing is stored
    /// (no `spec.name`): then a second run does no harm.
    pub async fn backtest(
        &self,
        chunks: Vec<pb::BacktestChunk>,
    ) -> Result<pb::BacktestResponse, ClientError> {
        let stores = chunks
            .first()
            .and_then(|c| c.spec.as_ref())
            .is_some_and(|s| !s.name.is_empty());
        let retry = if stores {
            Retry::Never
        } else {
            Retry::Idempotent
        };
        self.policy()
            .run("backtest", retry, |left| {
                let stream = tokio_stream::iter(chunks.clone());
                let mut models = self.models();
                async move { models.backtest(request(stream, left)).await }
            })
            .await
            .map(Response::into_inner)
    }

    /// Segments customers; with `store` the segmentation is kept with the model, so the
    /// call is then not resent.
    pub async fn segment(
        &self,
        message: pb::SegmentRequest,
    ) -> Result<pb::SegmentResponse, ClientError> {
        let retry = if message.store {
            Retry::Never
        } else {
            Retry::Idempotent
        };
        self.unary("segment", retry, message, |c, r| async move {
            c.scoring().segment(r).await
        })
        .await
    }

    /// One action per customer, and a budget plan.
    pub async fn recommend(
        &self,
        message: pb::RecommendRequest,
    ) -> Result<pb::RecommendResponse, ClientError> {
        self.unary("recommend", Retry::Idempotent, message, |c, r| async move {
            c.scoring().recommend(r).await
        })
        .await
    }

    /// The gRPC health status of the whole server.
    pub async fn health(
        &self,
    ) -> Result<tonic_health::pb::health_check_response::ServingStatus, ClientError> {
        use tonic_health::pb::health_check_response::ServingStatus;
        let message = tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        };
        // A server still loading its store answers NOT_SERVING: worth waiting for under the
        // retry policy, as for UNAVAILABLE. What is left when the retries run out is the
        // answer, not an error.
        const NOT_SERVING: &str = "NOT_SERVING";
        let r = self
            .unary(
                "health check",
                Retry::Idempotent,
                message,
                |c, r| async move {
                    let answer = tonic_health::pb::health_client::HealthClient::new(c.channel())
                        .check(r)
                        .await?;
                    if answer.get_ref().status == ServingStatus::NotServing as i32 {
                        return Err(Status::unavailable(NOT_SERVING));
                    }
                    Ok(answer)
                },
            )
            .await;
        match r {
            Ok(r) => Ok(ServingStatus::try_from(r.status).unwrap_or(ServingStatus::Unknown)),
            Err(ClientError::Rpc { code, message, .. })
                if code == tonic::Code::Unavailable && message == NOT_SERVING =>
            {
                Ok(ServingStatus::NotServing)
            }
            Err(e) => Err(e),
        }
    }
}
