//! The `custval` binary when the network or the server misbehaves: a connection cut in
//! the middle of a scoring stream, a server that comes up late, deadlines, and the
//! progress bar (drawn on a terminal only).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Server, custval};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

/// Exits 0; its standard error (where progress and summaries go).
fn ok(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    common::ok(out);
    err
}

/// A TCP proxy in front of `upstream` that cuts its first connection once `cut_after`
/// bytes have come back from the server (a crash or a network fault in mid-stream);
/// later connections pass through.
struct CuttingProxy {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl CuttingProxy {
    fn start(upstream: SocketAddr, cut_after: usize) -> CuttingProxy {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        runtime.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
                let limit = if first { cut_after } else { usize::MAX };
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    });
                    let mut sent = 0usize;
                    let mut buf = vec![0u8; 64 * 1024];
                    while sent < limit {
                        match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if cw.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                                sent += n;
                            }
                        }
                    }
                    up.abort();
                });
            }
        });
        CuttingProxy {
            addr,
            connections,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// (customer id, CLV) of a scored CSV, in file order.
fn scores(path: &Path) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let clv = header.iter().position(|h| *h == "clv").unwrap();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_owned(), f[clv].parse().unwrap())
        })
        .collect()
}

#[test]
fn a_stream_cut_midway_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(custval(
        &server.url,
        &[
            "simulate",
            "--customers",
            "20000",
            "--output",
            &path("fit.csv"),
        ],
    ));
    ok(custval(
        &server.url,
        &[
            "simulate",
            "--customers",
            "200000",
            "--seed",
            "7",
            "--output",
            &path("all.csv"),
        ],
    ));
    ok(custval(
        &server.url,
        &["fit", "--input", &path("fit.csv"), "--name", "m"],
    ));
    let score = |url: &str, out: &str| {
        custval(
            url,
            &[
                "score",
                "--model",
                "m",
                "--input",
                &path("all.csv"),
                "--output",
                out,
            ],
        )
    };
    ok(score(&server.url, &path("direct.csv")));

    // 50k customers per chunk come back as ~2.5 MB: cut inside the second chunk.
    let proxy = CuttingProxy::start(server.addr, 3 << 20);
    let stderr = ok(score(&proxy.url(), &path("resumed.csv")));
    assert!(stderr.contains("resuming after"), "{stderr}");
    assert!(stderr.contains("resumed 1 times"), "{stderr}");
    assert!(proxy.connections.load(Ordering::SeqCst) >= 2);

    let (direct, resumed) = (scores(dir.path().join("direct.csv").as_path()), {
        scores(dir.path().join("resumed.csv").as_path())
    });
    assert_eq!(direct.len(), 200_000);
    assert_eq!(
        resumed.len(),
        direct.len(),
        "every customer once, none twice"
    );
    for ((id_a, a), (id_b, b)) in direct.iter().zip(&resumed) {
        assert_eq!(id_a, id_b);
        // Chunk boundaries move on a resume; the batch scorer's per-frequency tables
        // agree with the per-customer path to ~1e-14.
        assert!(
            (a - b).abs() <= 1e-12 * a.abs().max(1.0),
            "{id_a}: {a} vs {b}"
        );
    }
}

#[test]
fn a_server_that_comes_up_late_is_waited_for_and_one_that_stays_down_is_not() {
    let dir = tempfile::tempdir().unwrap();
    // Reserve a port, free it, and start the server there a little after the client.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}");
    let data = dir.path().join("data");
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        Server::spawn(&addr.to_string(), &data)
    });
    let out = custval(
        &url,
        &["--retries", "8", "--retry-backoff", "50ms", "health"],
    );
    let _server = late.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("SERVING"),
        "{out:?}"
    );

    let down = custval(
        "http://127.0.0.1:1",
        &[
            "--retries",
            "2",
            "--retry-backoff",
            "10ms",
            "models",
            "list",
        ],
    );
    assert_eq!(down.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(
        stderr.contains("cannot connect") && stderr.contains("3 attempts"),
        "{stderr}"
    );
}

#[test]
fn a_deadline_stops_a_call_that_takes_longer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    let input = dir.path().join("c.csv").display().to_string();
    ok(custval(
        &server.url,
        &["simulate", "--customers", "100000", "--output", &input],
    ));
    let out = custval(
        &server.url,
        &[
            "--deadline",
            "5ms",
            "fit",
            "--input",
            &input,
            "--name",
            "late",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEADLINE_EXCEEDED"), "{stderr}");
    // A fit that missed its deadline is not stored.
    let list = custval(&server.url, &["models", "list", "--json"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "[]");
    // With time enough, the same call works.
    ok(custval(
        &server.url,
        &[
            "--deadline",
            "60s",
            "fit",
            "--input",
            &input,
            "--name",
            "on-time",
        ],
    ));
}

#[test]
fn the_progress_bar_shows_on_a_terminal_only() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` (a pseudo-terminal) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(custval(
        &server.url,
        &[
            "simulate",
            "--customers",
            "300000",
            "--output",
            &path("c.csv"),
        ],
    ));
    ok(custval(
        &server.url,
        &["fit", "--input", &path("c.csv"), "--name", "m"],
    ));
    let args = [
        "score",
        "--model",
        "m",
        "--input",
        &path("c.csv"),
        "--output",
        &path("s.csv"),
    ];
    // Piped: only the closing summary.
    let piped = ok(custval(&server.url, &args));
    assert!(piped.contains("scored 300000 customers"), "{piped}");
    assert!(!piped.contains("ETA"), "{piped}");
    // On a pseudo-terminal: the bar, with rate and ETA, then the same summary.
    let command = format!(
        "{} --server {} {}",
        env!("CARGO_BIN_EXE_custval"),
        server.url,
        args.join(" ")
    );
    let tty = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{shown}");
    assert!(
        shown.contains("ETA") && shown.contains("customers"),
        "{shown}"
    );
    assert!(shown.contains("scored 300000 customers"), "{shown}");
}

/// A score that fails half-way (a bad row after the first chunks were written) leaves no
/// file under the output name and no temporary file beside it; a finished one is whole.
#[test]
fn a_failed_score_leaves_no_partial_output() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fit_input = d.join("fit.csv");
    let path = |p: &Path| p.display().to_string();
    ok(server.run(&[
        "simulate",
        "--customers",
        "120000",
        "--output",
        &path(&fit_input),
    ]));
    let text = std::fs::read_to_string(&fit_input).unwrap();

    ok(server.run(&[
        "fit",
        "--input",
        &path(&fit_input),
        "--name",
        "m",
        "--model",
        "bgnbd",
    ]));
    // The same customers, then a frequency that is not a number past the first chunks.
    let bad = d.join("bad.csv");
    std::fs::write(&bad, format!("{}\nlate,x,1,2,3\n", text.trim_end())).unwrap();
    for name in ["scores.csv", "scores.csv.gz", "scores.parquet"] {
        let out_path = d.join(name);
        let out = server.run(&[
            "score",
            "--model",
            "m",
            "--input",
            &path(&bad),
            "--output",
            &path(&out_path),
        ]);
        let err = common::fails(out, 3);
        assert!(err.contains("line 120002"), "{err}");
        assert!(!out_path.exists(), "{name} was left behind");
    }
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter()
            .all(|n| !n.contains("custval") && !n.starts_with(".scores")),
        "temporary files left: {left:?}"
    );
    let good = d.join("scores.csv");
    ok(server.run(&[
        "score",
        "--model",
        "m",
        "--input",
        &path(&fit_input),
        "--output",
        &path(&good),
    ]));
    assert_eq!(
        std::fs::read_to_string(&good).unwrap().lines().count(),
        120_001
    );
}
