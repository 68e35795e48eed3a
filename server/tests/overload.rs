//! Admission under load against a real server on 127.0.0.1:0: every request counted
//! against the limit, a bounded queue, shedding with RetryInfo, idle streams ended, and
//! the size and cost limits named in the refusals.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::time::Duration;

use common::*;
use custval_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic_types::StatusExt;

fn fit_request(spec: pb::FitSpec, columns: pb::SummaryColumns) -> pb::FitModelRequest {
    pb::FitModelRequest {
        spec: Some(spec),
        customers: vec![],
        summary_columns: Some(columns),
    }
}

fn score_request(columns: pb::SummaryColumns) -> pb::ScoreRequest {
    pb::ScoreRequest {
        options: Some(score_options("m")),
        customers: vec![],
        summary_columns: Some(columns),
    }
}

async fn fit_m(server: &TestServer) {
    server
        .models()
        .await
        .fit_model(fit_request(
            fit_spec("m", pb::TransactionModelKind::BgNbd, false),
            cdnow_columns(),
        ))
        .await
        .unwrap();
}

/// A gauge's value in the Prometheus text.
fn gauge(text: &str, name: &str) -> i64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// A shed: RESOURCE_EXHAUSTED saying when to retry.
fn assert_shed(e: &tonic::Status) {
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    let retry = e.get_error_details().retry_info().cloned();
    assert!(
        retry.is_some_and(|r| r.retry_delay.is_some_and(|d| d > Duration::ZERO)),
        "a shed request says when to retry: {e:?}"
    );
}

/// Opens a ScoreStream that sends nothing: it holds a place until `hold` is dropped.
async fn idle_stream(
    server: &TestServer,
) -> (
    mpsc::Sender<pb::ScoreStreamRequest>,
    tonic::Streaming<pb::ScoreStreamResponse>,
) {
    let (hold, chunks) = mpsc::channel(1);
    let replies = server
        .scoring()
        .await
        .score_stream(ReceiverStream::new(chunks))
        .await
        .unwrap()
        .into_inner();
    (hold, replies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_beyond_capacity_are_counted_queued_and_shed() {
    // Before: scores of up to 2,048 customers ran inline on the runtime's two threads, so
    // at most two were ever in flight and none was shed, however many were sent.
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        dir.path(),
        &[
            "--max-concurrent-requests",
            "2",
            "--max-queued-requests",
            "2",
        ],
    )
    .await;
    fit_m(&server).await;
    let batch = simulated_columns(2000, 3);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let watcher = {
        let metrics = server.metrics_addr;
        tokio::spawn(async move {
            let (mut running, mut queued) = (0, 0);
            while !*stopped.borrow_and_update() {
                let text = metrics_text_at(metrics).await;
                running = running.max(gauge(&text, "custval_requests_in_flight"));
                queued = queued.max(gauge(&text, "custval_requests_queued"));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (running, queued)
        })
    };
    let clients = [
        server.scoring().await,
        server.scoring().await,
        server.scoring().await,
    ];
    let (mut ok, mut shed) = (0, 0);
    for _round in 0..10 {
        let mut calls = Vec::new();
        for i in 0..48 {
            let mut c = clients[i % clients.len()].clone();
            let r = score_request(batch.clone());
            calls.push(tokio::spawn(async move { c.score(r).await }));
        }
        for call in calls {
            match call.await.unwrap() {
                Ok(r) => {
                    assert_eq!(r.into_inner().scores.len(), 2000);
                    ok += 1;
                }
                Err(e) => {
                    assert_shed(&e);
                    shed += 1;
                }
            }
        }
        if shed > 0 && ok >= 8 {
            break;
        }
    }
    stop.send(true).unwrap();
    let (running, queued) = watcher.await.unwrap();
    assert!(shed > 0, "nothing was shed ({ok} ok)");
    assert!(
        ok >= 4,
        "the admitted requests were served ({ok} ok, {shed} shed)"
    );
    assert!(
        running <= 2 && queued <= 2,
        "running {running}, queued {queued}"
    );
    assert_eq!(running, 2, "the in-flight gauge reaches the limit");
    let text = server.metrics_text().await;
    assert_eq!(gauge(&text, "custval_requests_in_flight"), 0);
    assert_eq!(gauge(&text, "custval_requests_queued"), 0);
    assert!(
        text.contains(&format!("custval_requests_shed_total {shed}")),
        "{text}"
    );
}

/// The Prometheus text from a metrics port, outside a [`TestServer`] borrow.
async fn metrics_text_at(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_bound_is_honoured_and_the_queued_run_when_a_place_frees() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        dir.path(),
        &[
            "--max-concurrent-requests",
            "1",
            "--max-queued-requests",
            "2",
            "--max-queue-wait-ms",
            "60000",
        ],
    )
    .await;
    fit_m(&server).await;
    // An open stream takes the only place.
    let (hold, _replies) = idle_stream(&server).await;
    let scoring = server.scoring().await;
    let mut calls = Vec::new();
    for _ in 0..5 {
        let mut c = scoring.clone();
        calls.push(tokio::spawn(async move {
            c.score(score_request(cdnow_columns())).await
        }));
    }
    // Two wait; the other three are shed at once.
    let mut shed = 0;
    for _ in 0..1000 {
        shed = calls.iter().filter(|c| c.is_finished()).count();
        let text = server.metrics_text().await;
        if shed == 3 && gauge(&text, "custval_requests_queued") == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(shed, 3, "three shed at once, two queued");
    let (mut ok, mut refused) = (0, 0);
    let mut waiting = Vec::new();
    for call in calls {
        if call.is_finished() {
            assert_shed(&call.await.unwrap().unwrap_err());
            refused += 1;
        } else {
            waiting.push(call);
        }
    }
    // The stream ends: its place goes to the first in the queue, then the next.
    drop(hold);
    for call in waiting {
        let scores = tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .expect("a queued request runs once a place frees")
            .unwrap()
            .unwrap()
            .into_inner()
            .scores;
        assert_eq!(scores.len(), 2357);
        ok += 1;
    }
    assert_eq!((ok, refused), (2, 3));
}

async fn wait_until_queued(server: &TestServer, n: i64) {
    for _ in 0..1000 {
        if gauge(&server.metrics_text().await, "custval_requests_queued") == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never {n} queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_customer_score_is_not_stuck_behind_queued_segmentations() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        dir.path(),
        &[
            "--max-concurrent-requests",
            "1",
            "--max-queue-wait-ms",
            "60000",
        ],
    )
    .await;
    fit_m(&server).await;
    let (hold, _replies) = idle_stream(&server).await;
    let scoring = server.scoring().await;
    let mut segments = Vec::new();
    for _ in 0..3 {
        let mut c = scoring.clone();
        segments.push(tokio::spawn(async move {
            c.segment(pb::SegmentRequest {
                options: Some(score_options("m")),
                summary_columns: Some(cdnow_columns()),
                // Long enough that the order they run in shows at the client.
                segment_options: Some(pb::SegmentOptions {
                    k_min: 2,
                    k_max: 10,
                    runs: 10,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
        }));
    }
    wait_until_queued(&server, 3).await;
    let mut c = scoring.clone();
    let score = tokio::spawn(async move { c.score(score_request(cdnow_slice(0, 1))).await });
    wait_until_queued(&server, 4).await;
    drop(hold);
    let scored = tokio::time::timeout(Duration::from_secs(60), score)
        .await
        .expect("the score ran")
        .unwrap()
        .unwrap();
    assert_eq!(scored.into_inner().scores.len(), 1);
    // First come, first served ran all three segmentations first; now the score runs
    // with the first place freed, before any of them.
    let done = segments.iter().filter(|s| s.is_finished()).count();
    assert_eq!(done, 0, "the score waited for {done} segmentations");
    for s in segments {
        s.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_is_ended_and_gives_its_place_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        dir.path(),
        &[
            "--max-concurrent-requests",
            "1",
            "--max-queued-requests",
            "0",
            "--stream-idle-seconds",
            "1",
        ],
    )
    .await;
    fit_m(&server).await;
    let mut scoring = server.scoring().await;
    let (_hold, mut replies) = idle_stream(&server).await;
    assert_shed(
        &scoring
            .score(score_request(cdnow_columns()))
            .await
            .unwrap_err(),
    );
    let ended = tokio::time::timeout(Duration::from_secs(20), replies.message())
        .await
        .expect("an idle stream is ended")
        .unwrap_err();
    assert_eq!(ended.code(), Code::DeadlineExceeded, "{ended:?}");
    assert!(ended.message().contains("idle"), "{ended:?}");
    // Its place is free again.
    let mut scored = false;
    for _ in 0..100 {
        match scoring.score(score_request(cdnow_columns())).await {
            Ok(_) => {
                scored = true;
                break;
            }
            Err(e) => assert_shed(&e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(scored, "the idle stream's place was never given back");

    // A streamed fit that stops sending is ended the same way.
    let (_hold, chunks) = mpsc::channel::<pb::FitModelChunk>(1);
    let fit = tokio::time::timeout(
        Duration::from_secs(20),
        server
            .models()
            .await
            .fit_model_stream(ReceiverStream::new(chunks)),
    )
    .await
    .expect("an idle fit stream is ended")
    .unwrap_err();
    assert_eq!(fit.code(), Code::DeadlineExceeded, "{fit:?}");
    let text = server.metrics_text().await;
    assert_eq!(gauge(&text, "custval_requests_in_flight"), 0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_score_stream_chunk_is_assessed_at_its_own_cost() {
    // Before: a stream was admitted at a fixed cost and its chunks were never assessed,
    // so one chunk could cost any amount up to --max-batch-customers.
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &["--max-request-cost", "2000"]).await;
    server
        .models()
        .await
        .fit_model(fit_request(
            fit_spec("m", pb::TransactionModelKind::BgNbd, false),
            cdnow_slice(0, 1500),
        ))
        .await
        .unwrap();
    let chunk = |first: bool, columns| pb::ScoreStreamRequest {
        options: first.then(|| score_options("m")),
        customers: vec![],
        summary_columns: Some(columns),
    };
    let mut scoring = server.scoring().await;
    // Chunks under the cap, however many they add up to.
    let small = vec![
        chunk(true, cdnow_slice(0, 1500)),
        chunk(false, cdnow_slice(1500, 2357)),
    ];
    let mut replies = scoring
        .score_stream(tokio_stream::iter(small))
        .await
        .unwrap()
        .into_inner();
    let mut scored = 0;
    while let Some(r) = replies.message().await.unwrap() {
        scored += r.scores.unwrap().customer_id.len();
    }
    assert_eq!(scored, 2357);
    // One chunk above it, named.
    let big = vec![
        chunk(true, cdnow_slice(0, 100)),
        chunk(false, cdnow_columns()),
    ];
    let mut replies = scoring
        .score_stream(tokio_stream::iter(big))
        .await
        .unwrap()
        .into_inner();
    let e = loop {
        match replies.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("a chunk above the cost cap was scored"),
            Err(e) => break e,
        }
    };
    assert_eq!(violation(&e), "chunks[1].summary_columns");
    assert!(e.message().contains("--max-request-cost"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_costing_more_than_the_cap_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &["--max-request-cost", "5000"]).await;
    let mut models = server.models().await;
    // 2,357 customers x 1 family: under the cap.
    fit_m(&server).await;
    // x every family in competition: above it.
    let mut auto = fit_spec("m", pb::TransactionModelKind::BgNbd, false);
    auto.family = "auto".into();
    let e = models
        .fit_model(fit_request(auto, cdnow_columns()))
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "summary_columns");
    assert!(e.message().contains("--max-request-cost"), "{e:?}");
    // A segmentation tries 7 segment counts 3 times each: above it.
    let mut scoring = server.scoring().await;
    let e = scoring
        .segment(pb::SegmentRequest {
            options: Some(score_options("m")),
            summary_columns: Some(cdnow_columns()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "summary_columns");
    // The same customers scored once: under it.
    scoring.score(score_request(cdnow_columns())).await.unwrap();
    // A streamed fit is checked once its size is known.
    let mut auto = fit_spec("m", pb::TransactionModelKind::BgNbd, false);
    auto.family = "auto".into();
    let chunk = pb::FitModelChunk {
        spec: Some(auto),
        customers: vec![],
        summary_columns: Some(cdnow_columns()),
    };
    let e = models
        .fit_model_stream(tokio_stream::iter(vec![chunk]))
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "chunks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_and_stream_sizes_are_bounded_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        dir.path(),
        &[
            "--max-batch-customers",
            "2400",
            "--max-stream-customers",
            "4000",
        ],
    )
    .await;
    fit_m(&server).await;
    let mut scoring = server.scoring().await;
    // Two chunks of 2,357: the second takes the stream above 4,000.
    let chunks = vec![
        pb::ScoreStreamRequest {
            options: Some(score_options("m")),
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        },
        pb::ScoreStreamRequest {
            options: None,
            customers: vec![],
            summary_columns: Some(cdnow_columns()),
        },
    ];
    let mut replies = scoring
        .score_stream(tokio_stream::iter(chunks))
        .await
        .unwrap()
        .into_inner();
    let mut error = None;
    loop {
        match replies.message().await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let e = error.expect("a stream above --max-stream-customers is refused");
    assert_eq!(violation(&e), "chunks[1].summary_columns");
    assert!(e.message().contains("--max-stream-customers"), "{e:?}");
    // A streamed fit's chunk above --max-batch-customers.
    let big = simulated_columns(2500, 9);
    let chunk = pb::FitModelChunk {
        spec: Some(fit_spec("big", pb::TransactionModelKind::BgNbd, false)),
        customers: vec![],
        summary_columns: Some(big),
    };
    let e = server
        .models()
        .await
        .fit_model_stream(tokio_stream::iter(vec![chunk]))
        .await
        .unwrap_err();
    assert_eq!(violation(&e), "chunks[0].summary_columns");
    assert!(e.message().contains("--max-batch-customers"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_above_the_size_limit_are_resource_exhausted() {
    // tonic answers OUT_OF_RANGE; gRPC's status code guide says RESOURCE_EXHAUSTED.
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &["--max-message-bytes", "65536"]).await;
    let mut models = server.models().await;
    let e = models
        .fit_model(fit_request(
            fit_spec("big", pb::TransactionModelKind::BgNbd, false),
            simulated_columns(20_000, 1),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("too large"), "{e:?}");
    // A chunk of a client stream.
    let chunk = pb::FitModelChunk {
        spec: Some(fit_spec("big", pb::TransactionModelKind::BgNbd, false)),
        customers: vec![],
        summary_columns: Some(simulated_columns(20_000, 1)),
    };
    let e = models
        .fit_model_stream(tokio_stream::iter(vec![chunk]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    // A response above the limit: 1,500 customers fit in 64 KiB, their scores with spend
    // and CLV do not.
    fit_m_limited(&server).await;
    let sent = server
        .scoring()
        .await
        .score(score_request(cdnow_slice(0, 1500)))
        .await;
    let code = sent.as_ref().map(|r| r.get_ref().scores.len());
    assert_eq!(code.map_err(|e| e.code()), Err(Code::ResourceExhausted));
}

/// CDNOW customers `start..end` as summary columns.
fn cdnow_slice(start: usize, end: usize) -> pb::SummaryColumns {
    let all = cdnow_columns();
    pb::SummaryColumns {
        customer_id: all.customer_id[start..end].to_vec(),
        frequency: all.frequency[start..end].to_vec(),
        recency: all.recency[start..end].to_vec(),
        age: all.age[start..end].to_vec(),
        monetary_value: all.monetary_value[start..end].to_vec(),
        ..Default::default()
    }
}

/// Fits `m` on CDNOW in chunks small enough for a 64 KiB message limit.
async fn fit_m_limited(server: &TestServer) {
    let n = cdnow_columns().customer_id.len();
    let chunks: Vec<pb::FitModelChunk> = (0..n)
        .step_by(500)
        .enumerate()
        .map(|(k, start)| pb::FitModelChunk {
            spec: (k == 0).then(|| fit_spec("m", pb::TransactionModelKind::BgNbd, true)),
            customers: vec![],
            summary_columns: Some(cdnow_slice(start, (start + 500).min(n))),
        })
        .collect();
    server
        .models()
        .await
        .fit_model_stream(tokio_stream::iter(chunks))
        .await
        .unwrap();
}
