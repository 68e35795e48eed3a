//! The `Models` service: fit (unary and streamed), get, list, delete and describe
//! versioned models.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use custval_proto::v1 as pb;
use pb::models_server::Models;
use tonic::{Request, Response, Status, Streaming};

use super::{AppState, read_chunks};
use crate::admission::{Permit, deadline, past};
use crate::backtesting::{self, BacktestSpec, LogBuilder};
use crate::cancel;
use crate::cost::{self, Cost};
use crate::error::ApiError;
use crate::fitting::{self, FamilyChoice, FitSpec};
use crate::input::TableBuilder;
use crate::wire;

/// `custval.v1.Models` over the shared [`AppState`].
#[derive(Debug, Clone)]
pub struct ModelsService(pub Arc<AppState>);

/// The families a fit tries: one, or every registered one in competition.
fn families_tried(spec: &FitSpec) -> usize {
    match spec.family {
        FamilyChoice::One(_) => 1,
        FamilyChoice::Auto => custval_model::models::families().len(),
    }
}

/// A unary fit's cost from its raw spec (one family unless it asks for a competition; a
/// spec that does not parse is refused by the handler).
fn fit_cost(req: &pb::FitModelRequest) -> Cost {
    let (n, field) = cost::batch(&req.customers, req.summary_columns.as_ref());
    let families = FitSpec::parse(req.spec.as_ref()).map_or(1, |s| families_tried(&s));
    Cost::fit(n, families, field)
}

impl ModelsService {
    /// Finishes the table, fits, and stores the result unless the deadline has passed or
    /// the caller has gone (see [`crate::cancel`]: a fit is kept exactly when its caller is
    /// answered OK). A competition stores every candidate that fitted, the chosen one last.
    async fn fit_and_store(
        &self,
        permit: &Permit,
        spec: FitSpec,
        builder: TableBuilder,
        deadline: Option<Instant>,
    ) -> Result<pb::FitModelResponse, ApiError> {
        let registry = self.0.registry()?;
        let metrics = self.0.metrics.clone();
        let request = cancel::current();
        permit
            .blocking(move || {
                let decoded = builder.finish()?;
                let stop = request.token();
                let (records, mut selection) = match spec.family {
                    FamilyChoice::One(family) => (
                        vec![fitting::fit(&spec, family, &decoded, now_ms(), &stop)?],
                        None,
                    ),
                    FamilyChoice::Auto => {
                        let c = fitting::compete(&spec, &decoded, now_ms(), &stop)?;
                        (c.records, Some(c.selection))
                    }
                };
                if past(deadline) {
                    return Err(ApiError::DeadlineExceeded("the model was stored"));
                }
                let stored = request.store(&registry, |store| {
                    records
                        .into_iter()
                        .map(|r| store.insert(r))
                        .collect::<Result<Vec<_>, _>>()
                })?;
                for stored in &stored {
                    let customers = stored.training.customers as usize;
                    let family = stored.model.transaction.family().name();
                    metrics.fitted(customers);
                    tracing::info!(name = %stored.name, version = stored.version, customers, family,
                    seconds = stored.training.fit_seconds, "model fitted and stored");
                    if let Some(c) = selection
                        .as_mut()
                        .and_then(|s| s.candidates.iter_mut().find(|c| c.family == family))
                    {
                        c.version = stored.version;
                    }
                }
                let stored = stored
                    .into_iter()
                    .next_back()
                    .ok_or_else(|| ApiError::Internal("nothing was fitted".into()))?;
                Ok(pb::FitModelResponse {
                    model: Some(wire::model_to_proto(&stored)),
                    selection,
                })
            })
            .await
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
        let req = request.into_inner();
        let cost = fit_cost(&req);
        self.0
            .admission
            .unary("FitModel", deadline, cost, |permit| async move {
                self.0.registry()?;
                let spec = FitSpec::parse(req.spec.as_ref())?;
                let settings = spec.input_settings(max);
                let builder = permit
                    .blocking(move || {
                        let mut b = TableBuilder::new(settings);
                        b.add(req.customers, req.summary_columns)?;
                        Ok(b)
                    })
                    .await?;
                self.fit_and_store(&permit, spec, builder, deadline).await
            })
            .await
    }

    async fn fit_model_stream(
        &self,
        request: Request<Streaming<pb::FitModelChunk>>,
    ) -> Result<Response<pb::FitModelResponse>, Status> {
        let deadline = deadline(&request);
        let max = self.0.limits.max_fit_customers;
        // The size is known once the stream is read: the cost is checked then.
        self.0
            .admission
            .unary(
                "FitModelStream",
                deadline,
                Cost::fixed(),
                |permit| async move {
                    self.0.registry()?;
                    let (spec, builder) = read_chunks(
                        &self.0,
                        &permit,
                        request.into_inner(),
                        |m: &pb::FitModelChunk| m.spec.is_some(),
                        |m| cost::batch(&m.customers, m.summary_columns.as_ref()),
                        |m| {
                            let spec = FitSpec::parse(m.spec.as_ref())?;
                            let builder = TableBuilder::new(spec.input_settings(max));
                            Ok((spec, builder))
                        },
                        |b, m| b.add(m.customers, m.summary_columns),
                    )
                    .await?;
                    let cost = Cost::fit(builder.customers(), families_tried(&spec), "chunks");
                    self.0.admission.check(&cost)?;
                    self.fit_and_store(&permit, spec, builder, deadline).await
                },
            )
            .await
    }

    async fn get_model(
        &self,
        request: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::GetModelResponse>, Status> {
        let deadline = deadline(&request);
        self.0
            .admission
            .unary("GetModel", deadline, Cost::fixed(), |_| async {
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
            .unary("ListModels", deadline, Cost::fixed(), |_| async {
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
            .unary(
                "DeleteModel",
                deadline,
                Cost::fixed(),
                |permit| async move {
                    let req = request.into_inner();
                    wire::model_name(&req.name, "name")?;
                    let registry = self.0.registry()?;
                    let deleted = permit
                        .blocking(move || registry.delete(&req.name, req.version))
                        .await?;
                    Ok(pb::DeleteModelResponse {
                        deleted_versions: deleted,
                    })
                },
            )
            .await
    }

    async fn model_metadata(
        &self,
        request: Request<pb::ModelMetadataRequest>,
    ) -> Result<Response<pb::ModelMetadataResponse>, Status> {
        let deadline = deadline(&request);
        self.0
            .admission
            .unary("ModelMetadata", deadline, Cost::fixed(), |_| async {
                let req = request.into_inner();
                wire::model_name(&req.name, "name")?;
                let record = self.0.registry()?.get(&req.name, req.version)?;
                Ok(wire::metadata_to_proto(&record))
            })
            .await
    }

    async fn backtest(
        &self,
        request: Request<Streaming<pb::BacktestChunk>>,
    ) -> Result<Response<pb::BacktestResponse>, Status> {
        let deadline = deadline(&request);
        let max = self.0.limits.max_fit_customers;
        // The size is known once the stream is read: the cost is checked then.
        self.0
            .admission
            .unary("Backtest", deadline, Cost::fixed(), |permit| async move {
                self.0.registry()?;
                let (spec, builder) = read_chunks(
                    &self.0,
                    &permit,
                    request.into_inner(),
                    |m: &pb::BacktestChunk| m.spec.is_some(),
                    |m| (m.customers.len(), "customers"),
                    |m| {
                        let spec = BacktestSpec::parse(m.spec.as_ref())?;
                        let builder = LogBuilder::new(spec.data_end, max);
                        Ok((spec, builder))
                    },
                    |b, m| b.add(m.customers),
                )
                .await?;
                let folds = spec.plan.folds().len();
                let cost =
                    Cost::backtest(builder.customers(), spec.families.len(), folds, "chunks");
                self.0.admission.check(&cost)?;
                self.backtest_and_store(&permit, spec, builder, deadline)
                    .await
            })
            .await
    }

    async fn list_families(
        &self,
        request: Request<pb::ListFamiliesRequest>,
    ) -> Result<Response<pb::ListFamiliesResponse>, Status> {
        let deadline = deadline(&request);
        self.0
            .admission
            .unary("ListFamilies", deadline, Cost::fixed(), |_| async {
                let families = custval_model::models::families()
                    .into_iter()
                    .map(wire::family_to_proto)
                    .collect();
                Ok(pb::ListFamiliesResponse { families })
            })
            .await
    }
}

impl ModelsService {
    /// Runs a backtest and stores its winner when the spec names where.
    async fn backtest_and_store(
        &self,
        permit: &Permit,
        spec: BacktestSpec,
        builder: LogBuilder,
        deadline: Option<Instant>,
    ) -> Result<pb::BacktestResponse, ApiError> {
        let registry = self.0.registry()?;
        let metrics = self.0.metrics.clone();
        let request = cancel::current();
        permit
            .blocking(move || {
                let log = builder.finish()?;
                let mut done = backtesting::run(&spec, &log, deadline, now_ms(), &request.token())?;
                if let Some(record) = done.winner.take() {
                    if past(deadline) {
                        return Err(ApiError::DeadlineExceeded("nothing was stored"));
                    }
                    let customers = record.training.customers as usize;
                    let stored = request.store(&registry, |store| store.insert(record))?;
                    metrics.fitted(customers);
                    tracing::info!(name = %stored.name, version = stored.version, customers,
                    family = %done.response.chosen, "backtest winner fitted and stored");
                    done.response.model = Some(wire::model_to_proto(&stored));
                }
                Ok(done.response)
            })
            .await
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
