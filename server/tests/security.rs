//! Security hygiene: a store only its owner can read, a token that stays out of the process
//! list, no unauthenticated service beyond loopback unless asked for, and a container probe
//! that really checks health over TLS.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::Path;

use clap::Parser;
use common::*;
use custval_proto::v1 as pb;
use custval_server::Config;
use tonic::Code;

fn config(dir: &Path, extra: &[&str]) -> Config {
    let mut args = vec![
        "custval-server".to_owned(),
        "--data-dir".into(),
        dir.display().to_string(),
        "--metrics-listen".into(),
        "off".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Config::parse_from(args)
}

/// Runs the server on `listen` until it stops by itself (an error) or 300 ms pass.
async fn run_briefly(config: Config, listen: &str) -> Result<(), String> {
    let grpc = tokio::net::TcpListener::bind(listen).await.unwrap();
    let run = custval_server::run(
        config,
        grpc,
        None,
        tokio::time::sleep(std::time::Duration::from_millis(300)),
    );
    run.await.map_err(|e| e.to_string())
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("nested/data");
    let server = TestServer::start(&dir, &[]).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "data dir");
    let store = dir.join(custval_server::store::STORE_FILE);
    assert_eq!(mode(&store), 0o600, "store file");
    // A fit writes the WAL, which SQLite creates with the store's mode.
    let mut models = server.models().await;
    models
        .fit_model(pb::FitModelRequest {
            spec: Some(fit_spec("m", pb::TransactionModelKind::BgNbd, false)),
            customers: vec![],
            summary_columns: Some(simulated_columns(300, 1)),
        })
        .await
        .unwrap();
    let wal = dir.join(format!("{}-wal", custval_server::store::STORE_FILE));
    if wal.exists() {
        assert_eq!(mode(&wal) & 0o077, 0, "WAL file");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let token_path = token_file.display().to_string();
    let server = TestServer::start(
        &dir.path().join("data"),
        &["--auth-token-file", &token_path],
    )
    .await;
    let mut models = server.models().await;
    let denied = models
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::Unauthenticated);
    let mut request = tonic::Request::new(pb::ListModelsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", "Bearer s3cret-token".parse().unwrap());
    assert!(models.list_models(request).await.is_ok());

    // An empty token file is a start-up error that says so, and both forms at once are a
    // usage error.
    std::fs::write(&token_file, "  \n").unwrap();
    let err = run_briefly(
        config(&dir.path().join("d2"), &["--auth-token-file", &token_path]),
        "127.0.0.1:0",
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("--auth-token-file") && err.contains("empty"),
        "{err}"
    );
    assert!(
        Config::try_parse_from([
            "custval-server",
            "--auth-token",
            "x",
            "--auth-token-file",
            &token_path
        ])
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_address_needs_a_token_or_an_explicit_opt_out() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_briefly(config(&dir.path().join("a"), &[]), "0.0.0.0:0")
        .await
        .unwrap_err();
    assert!(
        err.contains("refusing to serve") && err.contains("--allow-unauthenticated"),
        "{err}"
    );
    // Nothing was created: the refusal comes before the store is opened.
    assert!(!dir.path().join("a").exists());
    run_briefly(
        config(&dir.path().join("b"), &["--allow-unauthenticated"]),
        "0.0.0.0:0",
    )
    .await
    .unwrap();
    run_briefly(
        config(&dir.path().join("c"), &["--auth-token", "t"]),
        "0.0.0.0:0",
    )
    .await
    .unwrap();
    // Loopback needs neither.
    run_briefly(config(&dir.path().join("d"), &[]), "127.0.0.1:0")
        .await
        .unwrap();
}

/// The probe talks TLS to a TLS server and checks health, instead of only connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_checks_health_over_tls() {
    let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let (cert, key, ca) = (
        tls.join("server.pem").display().to_string(),
        tls.join("server.key").display().to_string(),
        tls.join("ca.pem").display().to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let server =
        TestServer::start_loading(dir.path(), &["--tls-cert", &cert, "--tls-key", &key]).await;
    let listen = format!("127.0.0.1:{}", server.addr.port());
    let probe = |extra: Vec<String>| {
        let listen = listen.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_custval-server"))
                .args(["--probe", "--listen", &listen])
                .args(extra)
                .status()
                .await
                .unwrap()
                .success()
        }
    };
    let tls_args = |ca: Option<&str>| {
        let mut v = vec![
            "--tls-cert".to_owned(),
            cert.clone(),
            "--tls-key".into(),
            key.clone(),
        ];
        if let Some(ca) = ca {
            v.extend(["--probe-ca".to_owned(), ca.to_owned()]);
        }
        v
    };
    let mut serving = false;
    for _ in 0..100 {
        if probe(tls_args(Some(&ca))).await {
            serving = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(serving, "the TLS probe never saw SERVING");
    // Plain text against a TLS server is not healthy; neither is a certificate the probe
    // cannot verify (the leaf alone is not a trust anchor for a CA-signed chain).
    assert!(!probe(vec![]).await);
    assert!(!probe(tls_args(None)).await);
}
