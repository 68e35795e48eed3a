//! Helpers shared by the tests that run against a real server on 127.0.0.1:0: [`Server`]
//! on its own runtime thread for the `custval` binary (cli.rs, formats.rs, resilience.rs),
//! [`AsyncServer`] on the test's runtime for in-process clients (bench.rs, report.rs).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
#![allow(dead_code)] // each test binary uses a part

use std::path::Path;
use std::process::{Command, Output};

use clap::Parser;

/// A server on its own runtime thread, stopped when dropped.
pub struct Server {
    pub url: String,
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A healthy server on a free port with a fresh store.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::spawn("127.0.0.1:0", dir.path());
        server._dir = Some(dir);
        server.wait_healthy();
        server
    }

    /// A server listening on `addr` with its store in `data_dir`, not yet waited for.
    pub fn spawn(addr: &str, data_dir: &Path) -> Server {
        let config = custval_server::Config::parse_from([
            "custval-server",
            "--data-dir",
            &data_dir.display().to_string(),
            "--drain-seconds",
            "1",
        ]);
        let listener = std::net::TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let grpc = tokio::net::TcpListener::from_std(listener).unwrap();
                custval_server::run(config, grpc, None, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Server {
            url: format!("http://{addr}"),
            addr,
            stop: Some(stop),
            thread: Some(thread),
            _dir: None,
        }
    }

    pub fn wait_healthy(&self) {
        for _ in 0..200 {
            if self.run(&["health"]).status.success() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("server did not become healthy");
    }

    pub fn run(&self, args: &[&str]) -> Output {
        custval(&self.url, args)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn custval(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custval"))
        .arg("--server")
        .arg(url)
        .args(args)
        .output()
        .unwrap()
}

pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn p(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// Asserts the exit code of a failed run; its standard error.
pub fn fails(out: Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    err
}

/// The CDNOW fixtures of the model crate.
pub fn cdnow(name: &str) -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../model/tests/fixtures/cdnow/"
    )
    .to_owned()
        + name
}

/// lifetimes' CDNOW summary with its own column names (ID, x, t_x, T, zbar; weeks), and the
/// options that read it.
/// How to read `CDNOW_sample.txt`: whitespace-separated, no header, sample id in column 2,
/// YYYYMMDD date in column 3, dollar value in column 5.
pub const CDNOW_SAMPLE: [&str; 9] = [
    "--delimiter",
    "whitespace",
    "--no-header",
    "--id-column",
    "2",
    "--date-column",
    "3",
    "--amount-column",
    "5",
];

pub const CDNOW_RENAMED: &str = "cdnow_customers_summary_with_transactions.csv";
pub const CDNOW_RENAMED_COLUMNS: [&str; 10] = [
    "--id-column",
    "ID",
    "--frequency-column",
    "x",
    "--recency-column",
    "t_x",
    "--t-column",
    "T",
    "--monetary-column",
    "zbar",
];

/// A server task on the calling test's tokio runtime, on 127.0.0.1:0 with a fresh store,
/// stopped when dropped (the pattern of server/tests/common).
pub struct AsyncServer {
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), custval_server::app::BoxError>>>,
    _dir: tempfile::TempDir,
}

impl AsyncServer {
    /// Starts it with `extra` server flags; it may still be loading its registry.
    pub async fn start(extra: &[&str]) -> AsyncServer {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = vec![
            "custval-server".into(),
            "--data-dir".into(),
            dir.path().display().to_string(),
            "--drain-seconds".into(),
            "2".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let config = custval_server::Config::parse_from(args);
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = grpc.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(custval_server::run(config, grpc, None, async {
            let _ = stopped.await;
        }));
        AsyncServer {
            addr,
            stop: Some(stop),
            handle: Some(handle),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops it and waits for a clean shutdown.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

impl Drop for AsyncServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
