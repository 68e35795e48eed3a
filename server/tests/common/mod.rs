//! A real custval-server on 127.0.0.1:0 for integration tests, and the data they send.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use custval_model::data::summary::Day;
use custval_proto::v1 as pb;
use custval_server::Config;
use custval_server::app::BoxError;
use pb::models_client::ModelsClient;
use pb::scoring_client::ScoringClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub mod poisson;

pub const MAX_MESSAGE: usize = 256 * 1024 * 1024;

pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), BoxError>>>,
}

impl TestServer {
    /// Starts a server on `dir` with extra flags, without waiting for it to be SERVING.
    pub async fn start_loading(dir: &Path, extra: &[&str]) -> TestServer {
        let mut args: Vec<String> = vec![
            "custval-server".into(),
            "--data-dir".into(),
            dir.display().to_string(),
            "--drain-seconds".into(),
            "2".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let config = Config::parse_from(args);
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = grpc.local_addr().unwrap();
        let metrics_addr = metrics.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(custval_server::run(config, grpc, Some(metrics), async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            metrics_addr,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Starts a server and waits until health says SERVING.
    pub async fn start(dir: &Path, extra: &[&str]) -> TestServer {
        let s = Self::start_loading(dir, extra).await;
        s.wait_for(ServingStatus::Serving).await;
        s
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn models(&self) -> ModelsClient<Channel> {
        ModelsClient::new(self.channel().await)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }

    pub async fn scoring(&self) -> ScoringClient<Channel> {
        ScoringClient::new(self.channel().await)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }

    pub async fn health(&self, service: &str) -> ServingStatus {
        let mut h = HealthClient::new(self.channel().await);
        let r = h
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        ServingStatus::try_from(r.status).unwrap()
    }

    pub async fn wait_for(&self, want: ServingStatus) {
        for _ in 0..600 {
            let mut h = match Channel::from_shared(self.url()).unwrap().connect().await {
                Ok(c) => HealthClient::new(c),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            if let Ok(r) = h
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                && r.into_inner().status == want as i32
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("server never reported {want:?}");
    }

    /// Signals shutdown and waits for the drain to finish.
    pub async fn stop(mut self) -> Result<(), BoxError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.handle.take() {
            Some(h) => h.await.unwrap(),
            None => Ok(()),
        }
    }

    pub fn signal_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// The Prometheus text from the metrics port (plain HTTP/1.1 over a socket).
    pub async fn metrics_text(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.metrics_addr)
            .await
            .unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/cdnow")
}

pub fn weeks() -> i32 {
    pb::TimeUnit::Week as i32
}

pub fn duration(value: f64, unit: pb::TimeUnit) -> pb::Duration {
    pb::Duration {
        value,
        unit: unit as i32,
    }
}

pub fn ts(day: Day) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::from(day.0) * 86_400,
        nanos: 0,
    }
}

pub fn ymd(y: i32, m: u32, d: u32) -> Day {
    Day::from_ymd(y, m, d).unwrap()
}

/// CDNOW calibration summaries (weeks) as columns, with mean repeat spend.
pub fn cdnow_columns() -> pb::SummaryColumns {
    let text = std::fs::read_to_string(
        fixture_dir().join("cdnow_customers_summary_with_transactions.csv"),
    )
    .unwrap();
    let mut c = pb::SummaryColumns::default();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.trim().split(',').collect();
        c.customer_id.push(f[0].to_owned());
        c.frequency.push(f[1].parse().unwrap());
        c.recency.push(f[2].parse().unwrap());
        c.age.push(f[3].parse().unwrap());
        c.monetary_value.push(f[4].parse().unwrap());
    }
    c
}

/// CDNOW_sample.txt as raw histories, one customer per id.
pub fn cdnow_customers() -> Vec<pb::Customer> {
    let text = std::fs::read_to_string(fixture_dir().join("CDNOW_sample.txt")).unwrap();
    let mut by_id: BTreeMap<u32, Vec<pb::Transaction>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Columns: master id, sample id, YYYYMMDD, quantity, dollars.
        let date = f[2];
        let day = ymd(
            date[0..4].parse().unwrap(),
            date[4..6].parse().unwrap(),
            date[6..8].parse().unwrap(),
        );
        by_id
            .entry(f[1].parse().unwrap())
            .or_default()
            .push(pb::Transaction {
                time: Some(ts(day)),
                amount: f[4].parse().unwrap(),
            });
    }
    by_id
        .into_iter()
        .map(|(id, transactions)| pb::Customer {
            customer_id: id.to_string(),
            transactions,
            ..Default::default()
        })
        .collect()
}

pub fn fit_spec(name: &str, model: pb::TransactionModelKind, spend: bool) -> pb::FitSpec {
    pb::FitSpec {
        name: name.into(),
        transaction_model: model as i32,
        spend_model: if spend {
            pb::SpendModelKind::GammaGamma as i32
        } else {
            pb::SpendModelKind::None as i32
        },
        time_unit: weeks(),
        ..Default::default()
    }
}

pub fn score_options(model: &str) -> pb::ScoreOptions {
    pb::ScoreOptions {
        request_id: "req-1".into(),
        model_name: model.into(),
        model_version: 0,
        horizon: Some(duration(52.0, pb::TimeUnit::Week)),
        discount: Some(pb::DiscountRate {
            rate: 0.01,
            period: Some(duration(1.0, pb::TimeUnit::Month)),
        }),
        time_unit: weeks(),
        observation_end: None,
    }
}

/// The first BadRequest field violation of a status, or a panic naming what came instead.
pub fn violation(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    assert_eq!(
        status.code(),
        tonic::Code::InvalidArgument,
        "expected INVALID_ARGUMENT, got {status:?}"
    );
    let details = status.get_error_details();
    let bad = details
        .bad_request()
        .unwrap_or_else(|| panic!("no BadRequest detail in {status:?}"));
    bad.field_violations[0].field.clone()
}

/// Simulated BG/NBD customers (weeks) as summary columns.
pub fn simulated_columns(n: usize, seed: u64) -> pb::SummaryColumns {
    use custval_model::simulate::{SimulationSpec, simulate_summaries};
    let spec = SimulationSpec {
        customers: n,
        seed,
        process: custval_model::TransactionModel::bg_nbd(
            custval_model::BetaGeoParams::published_cdnow(),
        ),
        spend: Some(custval_model::GammaGammaParams::published_cdnow()),
        calibration_length: 52.0,
        birth_window: 26.0,
        holdout_length: 0.0,
    };
    let t = simulate_summaries(&spec).unwrap().table;
    pb::SummaryColumns {
        customer_id: t.ids,
        frequency: t.rfm.iter().map(|c| c.frequency).collect(),
        recency: t.rfm.iter().map(|c| c.recency).collect(),
        age: t.rfm.iter().map(|c| c.age).collect(),
        monetary_value: t.monetary_value,
        ..Default::default()
    }
}
