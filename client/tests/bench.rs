//! `custval bench` against a real custval-server started in-process on 127.0.0.1:0.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::AsyncServer;
use custval_client::bench::{self, BenchOptions, BenchReport, Rpc};
use custval_client::{ClientError, ConnectOptions};
use custval_proto::v1 as pb;
use serde_json::Value;

/// Waits until the server answers custval.v1 calls (the registry is loaded).
async fn wait_ready(connect: &ConnectOptions) {
    for _ in 0..500 {
        if let Ok(conn) = connect.connect().await {
            match conn
                .models()
                .list_models(pb::ListModelsRequest::default())
                .await
            {
                Ok(_) => return,
                Err(s) if s.code() == tonic::Code::Unavailable => {}
                Err(s) => panic!("server not usable: {s:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("server never became ready");
}

async fn ready_server(extra: &[&str]) -> (AsyncServer, ConnectOptions) {
    let server = AsyncServer::start(extra).await;
    let connect = ConnectOptions::new(server.url());
    wait_ready(&connect).await;
    (server, connect)
}

fn quick(rpc: Rpc, concurrency: &[usize], requests: u64) -> BenchOptions {
    BenchOptions {
        rpc,
        concurrency: concurrency.to_vec(),
        requests: Some(requests),
        warmup: Duration::ZERO,
        quiet: true,
        ..BenchOptions::default()
    }
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// The report's JSON holds together: counts add up, percentiles are ordered, no errors.
fn check_report(report: &BenchReport, levels: &[usize], requests: u64) -> Value {
    let json = serde_json::to_value(report).unwrap();
    let rows = json["levels"].as_array().unwrap();
    assert_eq!(rows.len(), levels.len());
    let per_request = num(&json, "customers_per_request");
    for (row, &c) in rows.iter().zip(levels) {
        assert_eq!(num(row, "concurrency") as usize, c);
        assert_eq!(num(row, "requests") as u64, requests, "{row}");
        assert_eq!(num(row, "ok") as u64, requests, "{row}");
        assert_eq!(num(row, "errors"), 0.0, "{row}");
        assert!(row["errors_by_code"].as_object().unwrap().is_empty());
        assert_eq!(num(row, "customers"), per_request * requests as f64);
        let elapsed = num(row, "elapsed_s");
        assert!(elapsed > 0.0);
        assert!((num(row, "requests_per_s") - requests as f64 / elapsed).abs() < 1e-6);
        assert!((num(row, "customers_per_s") - num(row, "customers") / elapsed).abs() < 1e-3);
        let lat = &row["latency_ms"];
        let ordered: Vec<f64> = ["min", "p50", "p90", "p95", "p99", "p999", "max"]
            .iter()
            .map(|k| num(lat, k))
            .collect();
        assert!(ordered[0] > 0.0, "{lat}");
        assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "{lat}");
        assert!(num(lat, "mean") >= ordered[0] && num(lat, "mean") <= ordered[6]);
        let intervals = row["intervals"].as_array().unwrap();
        let counted: f64 = intervals.iter().map(|i| num(i, "requests")).sum();
        assert_eq!(counted as u64, requests);
    }
    json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_score_fits_the_model_then_measures_each_level() {
    let (server, connect) = ready_server(&[]).await;
    let opts = quick(Rpc::Score, &[1, 4], 60);
    let report = bench::run(&connect, &opts).await.unwrap();
    let json = check_report(&report, &[1, 4], 60);
    assert_eq!(json["rpc"], "score");
    assert_eq!(json["mode"], "closed-loop");
    assert_eq!(json["model"], "bench");
    assert_eq!(json["model_version"], 1);
    assert_eq!(json["customers_per_request"], 1);

    // The model now exists: a second run uses it instead of fitting another version.
    let opts = BenchOptions {
        batch_size: Some(100),
        ..quick(Rpc::Score, &[2], 10)
    };
    let report = bench::run(&connect, &opts).await.unwrap();
    let json = check_report(&report, &[2], 10);
    assert_eq!(json["model_version"], 1);
    assert_eq!(report.levels[0].customers, 1000);

    let table = bench::render_table(&report);
    assert!(table.contains("custval.v1.Scoring/Score"), "{table}");
    assert!(
        table.lines().any(|l| l.trim_start().starts_with("2 ")),
        "{table}"
    );
    let csv = bench::intervals_csv(&report);
    assert!(csv.starts_with("rate,concurrency,time_s,requests,errors,p50_ms,p99_ms\n"));
    assert!(csv.lines().nth(1).unwrap().starts_with(",2,0,"), "{csv}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn score_stream_counts_every_customer_of_every_stream() {
    let (server, connect) = ready_server(&[]).await;
    let opts = BenchOptions {
        batch_size: Some(4_000),
        stream_customers: 10_000,
        connections: 2,
        ..quick(Rpc::ScoreStream, &[1, 2], 4)
    };
    let report = bench::run(&connect, &opts).await.unwrap();
    let json = check_report(&report, &[1, 2], 4);
    assert_eq!(json["customers_per_request"], 10_000);
    // 4000 + 4000 + 2000.
    assert_eq!(json["chunks_per_stream"], 3);
    assert_eq!(report.levels[1].customers, 40_000);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_bench_segments_every_customer_of_every_call() {
    let (server, connect) = ready_server(&[]).await;
    let opts = BenchOptions {
        batch_size: Some(200),
        ..quick(Rpc::Segment, &[1, 2], 3)
    };
    let report = bench::run(&connect, &opts).await.unwrap();
    let json = check_report(&report, &[1, 2], 3);
    assert_eq!(json["method"], "custval.v1.Scoring/Segment");
    assert_eq!(report.levels[1].customers, 600);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fit_bench_fits_and_cleans_up_its_versions() {
    let (server, connect) = ready_server(&[]).await;
    let opts = BenchOptions {
        batch_size: Some(2_000),
        ..quick(Rpc::Fit, &[2], 4)
    };
    let report = bench::run(&connect, &opts).await.unwrap();
    let json = check_report(&report, &[2], 4);
    assert_eq!(json["model"], "bench-fit");
    assert!(json["model_version"].is_null());
    // The fit bench needs no model to score with: none was fitted.
    let conn = connect.connect().await.unwrap();
    let all = conn
        .models()
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(all.models.is_empty(), "{all:?}");
    let listed = conn
        .models()
        .list_models(pb::ListModelsRequest {
            name: "bench-fit".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.models.is_empty(), "{listed:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_on_schedule_and_reports_its_lag() {
    let (server, connect) = ready_server(&[]).await;
    let opts = BenchOptions {
        rate: vec![400.0],
        warmup: Duration::from_millis(50),
        ..quick(Rpc::Score, &[], 80)
    };
    let report = bench::run(&connect, &opts).await.unwrap();
    let json = check_report(&report, &[bench::DEFAULT_OPEN_LOOP_IN_FLIGHT], 80);
    assert_eq!(json["mode"], "open-loop");
    // 80 sends 2.5 ms apart take about 0.2 s.
    let elapsed = report.levels[0].elapsed_s;
    assert!((0.19..1.0).contains(&elapsed), "{elapsed}");
    assert!(report.levels[0].schedule_lag_ms.is_some());

    // With --duration: ~0.3 s at 400/s.
    let opts = BenchOptions {
        rate: vec![400.0],
        requests: None,
        duration: Duration::from_millis(300),
        ..quick(Rpc::Score, &[4], 0)
    };
    let report = bench::run(&connect, &opts).await.unwrap();
    let n = report.levels[0].requests;
    assert!((110..=121).contains(&n), "{n}");
    assert_eq!(report.levels[0].errors, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_server_is_a_clear_error() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let connect = ConnectOptions::new(format!("http://127.0.0.1:{port}"));
    let err = bench::run(&connect, &quick(Rpc::Score, &[1], 1))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("refused"), "{text}");

    let bad = ConnectOptions::new("ftp://127.0.0.1:1");
    let err = bench::run(&bad, &quick(Rpc::Score, &[1], 1))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Url { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_is_sent_when_given() {
    let server = AsyncServer::start(&["--auth-token", "t0ken"]).await;
    let mut connect = ConnectOptions::new(server.url());
    connect.token = Some("t0ken".into());
    wait_ready(&connect).await;
    let report = bench::run(&connect, &quick(Rpc::Score, &[1], 5))
        .await
        .unwrap();
    check_report(&report, &[1], 5);

    connect.token = None;
    let err = bench::run(&connect, &quick(Rpc::Score, &[1], 5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Rpc {
                code: tonic::Code::Unauthenticated,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("UNAUTHENTICATED"), "{err}");
    server.stop().await;
}

fn tls_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/tests/fixtures/tls")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_file() {
    let tls = tls_fixtures();
    let cert = tls.join("server.pem").display().to_string();
    let key = tls.join("server.key").display().to_string();
    let server = AsyncServer::start(&["--tls-cert", &cert, "--tls-key", &key]).await;
    let mut connect = ConnectOptions::new(format!("https://localhost:{}", server.addr.port()));
    connect.tls_ca = Some(tls.join("ca.pem"));
    wait_ready(&connect).await;
    let report = bench::run(&connect, &quick(Rpc::Score, &[2], 10))
        .await
        .unwrap();
    check_report(&report, &[2], 10);
    server.stop().await;
}

/// Runs the `custval` binary; (exit code, stdout, stderr).
async fn custval(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_custval"))
            .args(&args)
            .env_remove("CUSTVAL_SERVER")
            .env_remove("CUSTVAL_TOKEN")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_json_or_a_table_and_fails_cleanly() {
    let (server, _) = ready_server(&[]).await;
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = ["--server", &server.url(), "bench", "--requests", "20"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(["--concurrency", "1,2", "--warmup", "0s", "-q"].map(String::from));
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let csv = tempfile::NamedTempFile::new().unwrap();
    let csv_path = csv.path().display().to_string();
    let (code, out, err) = custval(args(&["--json", "--intervals-csv", &csv_path])).await;
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["levels"].as_array().unwrap().len(), 2);
    assert_eq!(json["levels"][1]["ok"], 20);
    let rows = std::fs::read_to_string(&csv_path).unwrap();
    assert!(rows.starts_with("rate,concurrency,time_s,"), "{rows}");
    assert!(rows.lines().count() >= 3, "{rows}");

    let (code, out, err) = custval(args(&["--batch-size", "10"])).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("p99.9"), "{out}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 11 && w[1] == "20")
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!((rows[0][0], rows[1][0]), ("1", "2"), "{out}");
    assert!(rows.iter().all(|w| w[2] == "0"), "{out}");

    // Usage errors and a server that is not there: a message and a non-zero exit.
    let (code, _, err) = custval(args(&["--concurrency", "0"])).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--concurrency"), "{err}");
    server.stop().await;
    let down = format!("http://127.0.0.1:{}", free_port());
    let (code, out, err) = custval(
        ["--server", &down, "bench", "--requests", "1"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert_eq!(code, 4, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("cannot connect to") && err.contains("refused"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_sweep_measures_each_rate() {
    let (server, connect) = ready_server(&[]).await;
    let opts = BenchOptions {
        rate: vec![200.0, 400.0],
        warmup: Duration::ZERO,
        ..quick(Rpc::Score, &[8], 30)
    };
    let report = bench::run(&connect, &opts).await.unwrap();
    let rates: Vec<_> = report.levels.iter().map(|l| l.rate).collect();
    assert_eq!(rates, vec![Some(200.0), Some(400.0)]);
    assert!(
        report
            .levels
            .iter()
            .all(|l| l.ok == 30 && l.concurrency == 8)
    );
    // 30 sends at 200/s take ~0.15 s, at 400/s ~0.075 s.
    let (slow, fast) = (report.levels[0].elapsed_s, report.levels[1].elapsed_s);
    assert!(slow > 0.14 && fast > 0.07 && slow > fast, "{slow} {fast}");
    let table = bench::render_table(&report);
    assert!(table.contains("200, 8"), "{table}");
    // The generator's own lag sits beside the latency it is part of.
    assert!(table.contains("lag p99.9"), "{table}");
    let lag = report.levels[0].schedule_lag_ms.unwrap();
    assert!(
        table.contains(&format!("p99.9 {:.3}", lag.p999)) || lag.p999 >= 10.0,
        "{table}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_the_sweep_with_a_report_of_what_was_measured() {
    let (server, _) = ready_server(&[]).await;
    let url = server.url();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_custval"))
            .args(["--server", &url, "bench", "--json", "--warmup", "0s"])
            .args(["--duration", "60s", "--concurrency", "1,2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Past the set-up (fitting the bench model): the first level has started.
        let mut notes = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let started = notes
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("concurrency 1:"));
        assert!(started, "the first level never started");
        std::thread::sleep(Duration::from_secs(1));
        let killed = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout} {:?}", out.stderr);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["interrupted"], true);
    let levels = json["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 1, "the second level never started: {json}");
    assert!(levels[0]["ok"].as_u64().unwrap() > 0, "{json}");
    assert!(levels[0]["elapsed_s"].as_f64().unwrap() < 10.0, "{json}");
    server.stop().await;
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
