//! Start-up, shutdown, restarts and crashes: health transitions and a store that keeps
//! every acknowledged model.

mod common;

use std::time::Duration;

use common::*;
use custval_proto::v1 as pb;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

fn fit_request(name: &str) -> pb::FitModelRequest {
    pb::FitModelRequest {
        spec: Some(fit_spec(name, pb::TransactionModelKind::BgNbd, true)),
        customers: vec![],
        summary_columns: Some(cdnow_columns()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_serving_until_the_store_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    // Another process holds the store exclusively, so loading has to wait for it.
    let blocker = {
        let path = dir.path().join(custval_server::store::STORE_FILE);
        let c = rusqlite::Connection::open(path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "locking_mode", "EXCLUSIVE").unwrap();
        c.execute_batch("CREATE TABLE IF NOT EXISTS held (x); INSERT INTO held VALUES (1);")
            .unwrap();
        c
    };
    let server = TestServer::start_loading(dir.path(), &[]).await;
    server.wait_for(ServingStatus::NotServing).await;
    assert_eq!(
        server.health("custval.v1.Scoring").await,
        ServingStatus::NotServing
    );
    let e = server
        .models()
        .await
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");

    drop(blocker);
    server.wait_for(ServingStatus::Serving).await;
    assert_eq!(
        server.health("custval.v1.Models").await,
        ServingStatus::Serving
    );
    server
        .models()
        .await
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reports_not_serving_before_draining() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path(), &[]).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    server.signal_stop();
    let next = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("a health update before the drain ends");
    match next {
        Ok(Some(m)) => assert_eq!(m.status, ServingStatus::NotServing as i32),
        other => panic!("expected NOT_SERVING, got {other:?}"),
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let fitted = models
        .fit_model(fit_request("kept"))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    let before = models
        .model_metadata(pb::ModelMetadataRequest {
            name: "kept".into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    drop(models);
    server.stop().await.unwrap();

    let server = TestServer::start(dir.path(), &[]).await;
    let mut models = server.models().await;
    let got = models
        .get_model(pb::GetModelRequest {
            name: "kept".into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(got, fitted);
    let after = models
        .model_metadata(pb::ModelMetadataRequest {
            name: "kept".into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after, before);
    let again = models
        .fit_model(fit_request("kept"))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(again.version, 2);
}

/// The real binary, killed with SIGKILL while fits are being written: every fit it
/// acknowledged is there after a restart, and the store opens cleanly.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_acknowledged_model() {
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let spawn = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_custval-server"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--data-dir", &dir.path().display().to_string()])
            .args(["--metrics-listen", "off"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let url = format!("http://127.0.0.1:{port}");
    let connect = || async {
        for _ in 0..500 {
            if let Ok(c) = tonic::transport::Channel::from_shared(url.clone())
                .unwrap()
                .connect()
                .await
            {
                let mut m = pb::models_client::ModelsClient::new(c);
                if m.list_models(pb::ListModelsRequest::default())
                    .await
                    .is_ok()
                {
                    return m;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server did not come up");
    };

    let mut child = spawn();
    let models = connect().await;
    // The container health check: the binary's own probe says SERVING.
    let probe = tokio::process::Command::new(env!("CARGO_BIN_EXE_custval-server"))
        .args(["--probe", "--listen", &format!("127.0.0.1:{port}")])
        .status()
        .await
        .unwrap();
    assert!(probe.success());
    // Fits keep arriving from four clients; the process dies in the middle of them.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let mut writers = Vec::new();
    for _ in 0..4 {
        let mut m = models.clone();
        let acked = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            while let Ok(r) = m.fit_model(fit_request("crash")).await {
                acked
                    .lock()
                    .unwrap()
                    .push(r.into_inner().model.unwrap().version);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acknowledged.lock().unwrap().clone();
    assert!(
        !acked.is_empty(),
        "some fits were acknowledged before the kill"
    );

    let mut child = spawn();
    let mut models = connect().await;
    let stored: Vec<u64> = models
        .list_models(pb::ListModelsRequest {
            name: "crash".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .models
        .iter()
        .map(|m| m.version)
        .collect();
    for v in &acked {
        assert!(
            stored.contains(v),
            "acknowledged version {v} lost; stored {stored:?}"
        );
        models
            .get_model(pb::GetModelRequest {
                name: "crash".into(),
                version: *v,
            })
            .await
            .unwrap();
    }
    // Versions after the crash continue past everything stored.
    let next = models
        .fit_model(fit_request("crash"))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap()
        .version;
    assert!(next > *stored.iter().max().unwrap());
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
