//! Work nobody waits for stops: a call past its deadline or cancelled by its client stops
//! its blocking work (watched on the `custval_request_work_running` gauge and, for the real
//! binary, in its CPU time), never stores a fit, and a shutdown ends the process within the
//! drain bound whatever is running.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use custval_proto::v1 as pb;
use tonic::Code;

/// Customers of the long fit: an `auto` fit (three families and a spend model) over this
/// many distinct simulated customers runs for many seconds, far beyond every bound below.
const LONG_FIT_CUSTOMERS: usize = 800_000;

/// A FitModel that runs for many seconds: every family, on many distinct customers.
fn long_fit(name: &str) -> pb::FitModelRequest {
    pb::FitModelRequest {
        spec: Some(pb::FitSpec {
            family: "auto".into(),
            ..fit_spec(name, pb::TransactionModelKind::BgNbd, true)
        }),
        summary_columns: Some(simulated_columns(LONG_FIT_CUSTOMERS, 7)),
        ..Default::default()
    }
}

/// A Segment that runs for many seconds on CDNOW's 2,357 customers: 49 candidate k, each
/// with 100 k-means++ restarts.
fn long_segment(model: &str) -> pb::SegmentRequest {
    pb::SegmentRequest {
        options: Some(score_options(model)),
        summary_columns: Some(cdnow_columns()),
        segment_options: Some(pb::SegmentOptions {
            k_min: 2,
            k_max: 50,
            runs: 100,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `message` with a deadline that travels as the grpc-timeout header only, so the answer is
/// the server's (tonic's own client timer would answer CANCELLED first).
fn with_deadline<T>(message: T, timeout: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("grpc-timeout", timeout.parse().unwrap());
    request
}

/// The server's DEADLINE_EXCEEDED, or the client's own timer's CANCELLED.
fn passed_deadline(status: &tonic::Status) -> bool {
    matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled)
}

/// The value of the `custval_request_work_running` gauge in a metrics page.
fn work_running(metrics: &str) -> i64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("custval_request_work_running "))
        .unwrap_or_else(|| panic!("no work gauge in {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

/// Polls `read` (a metrics page) until the work gauge satisfies `want`, and says how long
/// that took; panics naming `what` after `limit`.
async fn wait_for_work<F, Fut>(
    read: F,
    want: impl Fn(i64) -> bool,
    limit: Duration,
    what: &str,
) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = String>,
{
    let started = Instant::now();
    loop {
        let n = work_running(&read().await);
        if want(n) {
            eprintln!("{what}: gauge at {n} after {:?}", started.elapsed());
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{what}: still {n} piece(s) of work running after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The versions stored under `name` (none: NOT_FOUND or an empty list).
async fn versions(
    models: &mut pb::models_client::ModelsClient<tonic::transport::Channel>,
    name: &str,
) -> Vec<u64> {
    models
        .list_models(pb::ListModelsRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
        .models
        .iter()
        .map(|m| m.version)
        .collect()
}

/// A FitModel whose client goes away mid-fit, and one cut by its deadline: each stops its
/// work, and neither stores a version (a retrying caller would otherwise get duplicates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fit_whose_caller_has_gone_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;

    // How long decoding these customers and fitting one family takes: past that, the
    // `auto` fit (three families and a spend model) is surely fitting.
    let started = Instant::now();
    models
        .fit_model(pb::FitModelRequest {
            spec: Some(fit_spec(
                "reference",
                pb::TransactionModelKind::BgNbd,
                false,
            )),
            ..long_fit("reference")
        })
        .await
        .unwrap();
    let one_family = started.elapsed();

    // Cancelled by the client: the call is dropped while the fit runs.
    let call = {
        let mut m = models.clone();
        tokio::spawn(async move { m.fit_model(long_fit("gone")).await })
    };
    tokio::time::sleep(one_family + Duration::from_secs(1)).await;
    assert!(
        !call.is_finished(),
        "the long fit ended within {one_family:?}"
    );
    call.abort();
    wait_for_work(
        || server.metrics_text(),
        |n| n == 0,
        Duration::from_secs(10),
        "cancelled fit",
    )
    .await;
    assert_eq!(versions(&mut models, "gone").await, Vec::<u64>::new());

    // Cut by the deadline.
    // The server answers 2 ms before the deadline; under load the client's own timer may
    // win by a hair (CANCELLED, "Timeout expired").
    let request = with_deadline(long_fit("late"), "3S");
    let status = models.fit_model(request).await.unwrap_err();
    assert!(passed_deadline(&status), "{status:?}");
    wait_for_work(
        || server.metrics_text(),
        |n| n == 0,
        Duration::from_secs(10),
        "late fit",
    )
    .await;
    assert_eq!(versions(&mut models, "late").await, Vec::<u64>::new());

    // The server is free again: a small fit is stored as usual.
    models
        .fit_model(pb::FitModelRequest {
            spec: Some(fit_spec("small", pb::TransactionModelKind::BgNbd, false)),
            summary_columns: Some(cdnow_columns()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(versions(&mut models, "small").await, vec![1]);
}

/// Raw histories for one large Score: `n` customers with `purchases` dated purchases each,
/// so that decoding and summarising them is most of the work.
fn raw_customers(n: usize, purchases: usize) -> Vec<pb::Customer> {
    let start = ymd(2024, 1, 1);
    (0..n)
        .map(|i| pb::Customer {
            customer_id: format!("c{i}"),
            transactions: (0..purchases)
                .map(|j| pb::Transaction {
                    time: Some(ts(custval_model::data::summary::Day(
                        start.0 + ((i * 7 + j * 31) % 360) as i32,
                    ))),
                    amount: 10.0 + (j % 5) as f64,
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

/// How long a call runs in full, then the same call cut by a deadline of a quarter of
/// that (at least a second): its work must stop within another quarter, where before it
/// could run on for the remaining three. `call` sends the request, with the given
/// grpc-timeout header if any.
async fn stops_within_a_quarter<F, Fut>(server: &TestServer, what: &str, call: F)
where
    F: Fn(Option<String>) -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>>,
{
    let started = Instant::now();
    call(None).await.unwrap();
    let whole = started.elapsed();
    let quarter = (whole / 4).max(Duration::from_secs(1));
    eprintln!("{what}: {whole:?} in full");
    let status = call(Some(format!("{}m", quarter.as_millis())))
        .await
        .unwrap_err();
    assert!(passed_deadline(&status), "{what}: {status:?}");
    let stopped = wait_for_work(
        || server.metrics_text(),
        |n| n == 0,
        quarter + Duration::from_secs(60),
        what,
    )
    .await;
    assert!(
        stopped <= quarter,
        "{what}: work ran {stopped:?} past its deadline (the whole call takes {whole:?})"
    );
}

/// A server with a BG/NBD + Gamma-Gamma model named `cdnow` fitted on the CDNOW sample.
async fn server_with_cdnow_model(dir: &std::path::Path) -> TestServer {
    let server = TestServer::start(dir, &[]).await;
    server
        .models()
        .await
        .fit_model(pb::FitModelRequest {
            spec: Some(fit_spec("cdnow", pb::TransactionModelKind::BgNbd, true)),
            summary_columns: Some(cdnow_columns()),
            ..Default::default()
        })
        .await
        .unwrap();
    server
}

/// One large Score of raw histories (decoding and summarising two million transactions,
/// then scoring) whose client goes away once its blocking work has started: the work
/// stops within a quarter of the time it takes in full (the decoding checks the
/// request's token every 4,096 customers or transactions, the scoring every chunk of
/// customers), where before it ran to the end. The work's time in full is read from the
/// gauge (the call's own time is mostly the client's encoding and the transfer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_score_whose_caller_has_gone_stops_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_cdnow_model(dir.path()).await;
    let scoring = server.scoring().await;
    let message = pb::ScoreRequest {
        options: Some(pb::ScoreOptions {
            observation_end: Some(ts(ymd(2024, 12, 31))),
            ..score_options("cdnow")
        }),
        // Many purchases per customer: the work is per transaction, while what only
        // freeing the request costs (per customer) stays small.
        customers: raw_customers(50_000, 40),
        ..Default::default()
    };
    let call = |message: pb::ScoreRequest| {
        let mut scoring = scoring.clone();
        tokio::spawn(async move { scoring.score(message).await.map(drop) })
    };

    // In full: from the work's start to its end on the gauge.
    let whole = call(message.clone());
    wait_for_work(
        || server.metrics_text(),
        |n| n >= 1,
        Duration::from_secs(120),
        "score start",
    )
    .await;
    let work = wait_for_work(
        || server.metrics_text(),
        |n| n == 0,
        Duration::from_secs(300),
        "score in full",
    )
    .await;
    whole.await.unwrap().unwrap();

    // Cancelled by the client once the work runs.
    let cancelled = call(message);
    wait_for_work(
        || server.metrics_text(),
        |n| n >= 1,
        Duration::from_secs(120),
        "score start",
    )
    .await;
    cancelled.abort();
    let quarter = (work / 4).max(Duration::from_millis(200));
    let stopped = wait_for_work(
        || server.metrics_text(),
        |n| n == 0,
        Duration::from_secs(300),
        "cancelled score",
    )
    .await;
    assert!(
        stopped <= quarter,
        "the score's work ran {stopped:?} after its caller went (it takes {work:?} in full)"
    );
}

/// A Segment with one k of 50 and 100 k-means++ restarts is one linfa call: it was run
/// whole (linfa has no hook) however long after the caller had gone. The restarts are
/// now separate calls with a check between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k_means_seeding_stops_between_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_cdnow_model(dir.path()).await;
    let columns = simulated_columns(20_000, 3);
    let scoring = server.scoring().await;
    stops_within_a_quarter(&server, "k-means seeding", |timeout| {
        let mut scoring = scoring.clone();
        let message = pb::SegmentRequest {
            options: Some(score_options("cdnow")),
            summary_columns: Some(columns.clone()),
            segment_options: Some(pb::SegmentOptions {
                k: 50,
                runs: 100,
                ..Default::default()
            }),
            ..Default::default()
        };
        async move {
            let request = match timeout {
                Some(t) => with_deadline(message, &t),
                None => tonic::Request::new(message),
            };
            scoring.segment(request).await.map(drop)
        }
    })
    .await;
}

/// The real binary, for what only a process shows: its CPU time and its exit.
#[cfg(target_os = "linux")]
mod binary {
    use std::process::Stdio;

    use super::*;

    struct Server {
        child: tokio::process::Child,
        grpc: u16,
        metrics: u16,
    }

    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    impl Server {
        async fn start(dir: &std::path::Path, drain_seconds: u32) -> Server {
            let (grpc, metrics) = (free_port(), free_port());
            let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_custval-server"))
                .args(["--listen", &format!("127.0.0.1:{grpc}")])
                .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
                .args(["--data-dir", &dir.display().to_string()])
                .args(["--drain-seconds", &drain_seconds.to_string()])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let server = Server {
                child,
                grpc,
                metrics,
            };
            for _ in 0..500 {
                if let Ok(mut m) = server.try_models().await
                    && m.list_models(pb::ListModelsRequest::default())
                        .await
                        .is_ok()
                {
                    return server;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("server did not come up");
        }

        async fn try_models(
            &self,
        ) -> Result<
            pb::models_client::ModelsClient<tonic::transport::Channel>,
            tonic::transport::Error,
        > {
            let c =
                tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", self.grpc))
                    .unwrap()
                    .connect()
                    .await?;
            Ok(pb::models_client::ModelsClient::new(c)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE))
        }

        async fn scoring(&self) -> pb::scoring_client::ScoringClient<tonic::transport::Channel> {
            let c =
                tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", self.grpc))
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
            pb::scoring_client::ScoringClient::new(c)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE)
        }

        async fn metrics_text(&self) -> String {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.metrics))
                .await
                .unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        }

        /// User plus system CPU time of the process so far.
        fn cpu_time(&self) -> Duration {
            let pid = self.child.id().unwrap();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
            // USER_HZ is 100 on every Linux platform that matters here.
            Duration::from_millis(ticks * 10)
        }

        fn terminate(&self) {
            let pid = self.child.id().unwrap();
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        }
    }

    /// A Segment past its deadline answers DEADLINE_EXCEEDED and its work stops soon after:
    /// the gauge returns to 0 and the process goes quiet (before the fix it kept burning a
    /// core for the whole segmentation).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_segment_past_its_deadline_stops_its_work() {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path(), 2).await;
        let mut models = server.try_models().await.unwrap();
        models
            .fit_model(pb::FitModelRequest {
                spec: Some(fit_spec("cdnow", pb::TransactionModelKind::BgNbd, true)),
                summary_columns: Some(cdnow_columns()),
                ..Default::default()
            })
            .await
            .unwrap();

        let request = with_deadline(long_segment("cdnow"), "2S");
        let status = server.scoring().await.segment(request).await.unwrap_err();
        assert!(passed_deadline(&status), "{status:?}");
        wait_for_work(
            || server.metrics_text(),
            |n| n == 0,
            Duration::from_secs(5),
            "segmentation past its deadline",
        )
        .await;
        // Quiet: an idle server uses next to no CPU.
        let before = server.cpu_time();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let used = server.cpu_time() - before;
        eprintln!("CPU used in the 2 s after the work stopped: {used:?}");
        assert!(
            used < Duration::from_millis(500),
            "{used:?} of CPU in 2 s after the answer"
        );
    }

    /// SIGTERM with `--drain-seconds 1` while a long fit runs: the process exits (status 0,
    /// as documented) within the drain plus a few seconds, the caller hears UNAVAILABLE or
    /// loses the connection, and the fit is not stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_ends_the_process_within_the_drain_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::start(dir.path(), 1).await;
        let models = server.try_models().await.unwrap();
        let call = {
            let mut m = models.clone();
            tokio::spawn(async move { m.fit_model(long_fit("drained")).await })
        };
        wait_for_work(
            || server.metrics_text(),
            |n| n >= 1,
            Duration::from_secs(60),
            "fit start",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let signalled = Instant::now();
        server.terminate();
        let status = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
            .await
            .expect("the server did not exit within 30 s of SIGTERM")
            .unwrap();
        let took = signalled.elapsed();
        eprintln!("exited {took:?} after SIGTERM");
        assert!(
            took < Duration::from_secs(6),
            "exited {took:?} after SIGTERM with a 1 s drain"
        );
        assert!(status.success(), "{status:?}");
        let answer = call.await.unwrap();
        let code = answer.as_ref().map_err(tonic::Status::code).unwrap_err();
        assert!(
            matches!(code, Code::Unavailable | Code::Unknown | Code::Cancelled),
            "{answer:?}"
        );
        drop(models);

        let server = Server::start(dir.path(), 1).await;
        let mut models = server.try_models().await.unwrap();
        assert_eq!(versions(&mut models, "drained").await, Vec::<u64>::new());
    }
}
