//! The `custval` binary against a real server on 127.0.0.1:0: every command, malformed
//! files, unknown models and a server that is down.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::{CDNOW_SAMPLE, Server, cdnow, custval, fails, ok, p};
use serde_json::Value;

#[test]
fn every_command_end_to_end() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tx = p(d, "tx.csv");
    ok(server.run(&[
        "simulate",
        "--customers",
        "3000",
        "--transactions",
        "--output",
        &tx,
    ]));

    // Fit with a holdout: the JSON has what scripts need.
    let fit: Value = serde_json::from_str(&ok(server.run(&[
        "fit",
        "--input",
        &tx,
        "--observation-end",
        "2024-09-30",
        "--holdout-end",
        "2024-12-29",
        "--name",
        "sim",
        "--model",
        "bgnbd",
        "--json",
    ])))
    .unwrap();
    assert_eq!(fit["name"], "sim");
    assert_eq!(fit["version"], 1);
    assert_eq!(fit["converged"], true);
    for k in ["r", "alpha", "a", "b"] {
        assert!(fit["params"][k].as_f64().unwrap() > 0.0);
    }
    for k in ["p", "q", "v"] {
        assert!(fit["spend_params"][k].as_f64().unwrap() > 0.0);
    }
    assert!(fit["log_likelihood"].as_f64().unwrap() < 0.0);
    assert!(fit["holdout"]["actual_total"].as_f64().unwrap() > 0.0);
    assert!(fit["holdout"]["predicted_total"].as_f64().unwrap() > 0.0);
    // The model's ranking beside the naive baselines on the same customers.
    let ranking = &fit["holdout"]["ranking"];
    assert_eq!(ranking["outcome"], "purchases");
    let gini = ranking["normalized_gini"].as_f64().unwrap();
    assert!(gini > 0.0 && gini <= 1.0, "{ranking}");
    assert!(
        ranking["top_share"]["10%"].as_f64().unwrap() > 0.1,
        "{ranking}"
    );
    let baselines = fit["holdout"]["baselines"].as_array().unwrap();
    let names: Vec<&str> = baselines
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["past_spend", "past_frequency", "same_rate"]);
    for b in baselines {
        assert!(b["normalized_gini"].as_f64().is_some(), "{b}");
    }
    assert!(baselines[1]["mae"].as_f64().unwrap() > 0.0);
    // Simulated amounts, holdout spend and a spend model: revenue is ranked too.
    assert_eq!(fit["holdout"]["revenue_ranking"]["outcome"], "revenue");

    // Summaries in lifetimes' names, then scores from either input.
    let summ = p(d, "summ.csv");
    ok(server.run(&[
        "summarize",
        "--input",
        &tx,
        "--observation-end",
        "2024-12-29",
        "--output",
        &summ,
    ]));
    let header = std::fs::read_to_string(&summ).unwrap();
    assert!(header.starts_with("customer_id,frequency,recency,T,monetary_value"));
    let scores = p(d, "scores.csv");
    ok(server.run(&[
        "score",
        "--model",
        "sim",
        "--input",
        &summ,
        "--output",
        &scores,
        "--discount-rate",
        "0.1",
    ]));
    let text = std::fs::read_to_string(&scores).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "customer_id,expected_purchases,p_alive,propensity,expected_spend,clv"
    );
    assert_eq!(lines.count(), 3000);
    let from_log = p(d, "from_log.csv");
    ok(server.run(&[
        "score",
        "--model",
        "sim",
        "--input",
        &tx,
        "--observation-end",
        "2024-12-29",
        "--output",
        &from_log,
    ]));
    assert_eq!(
        std::fs::read_to_string(&from_log).unwrap().lines().count(),
        3001
    );
    let jsonl = p(d, "scores.jsonl");
    ok(server.run(&[
        "score", "--model", "sim", "--input", &summ, "--output", &jsonl,
    ]));
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&jsonl)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(first["p_alive"].as_f64().is_some());

    // Segments stored with the model show up in later scores.
    let seg: Value = serde_json::from_str(&ok(server.run(&[
        "segment", "--model", "sim", "--input", &summ, "--k", "4", "--store", "--json",
    ])))
    .unwrap();
    assert_eq!(seg["segments"].as_array().unwrap().len(), 4);
    assert_eq!(seg["stored"], true);
    ok(server.run(&[
        "score", "--model", "sim", "--input", &summ, "--output", &scores,
    ]));
    assert!(std::fs::read_to_string(&scores).unwrap().starts_with(
        "customer_id,expected_purchases,p_alive,propensity,expected_spend,clv,segment,tier,action"
    ));

    let rec: Value = serde_json::from_str(&ok(server.run(&[
        "recommend",
        "--model",
        "sim",
        "--input",
        &summ,
        "--budget",
        "300",
        "--json",
    ])))
    .unwrap();
    assert!(rec["plan"]["spent"].as_f64().unwrap() <= 300.0);

    // The HTML report, with tracking from the log and segments from its customers.
    let html = p(d, "report.html");
    ok(server.run(&[
        "report",
        "--model",
        "sim",
        "--input",
        &tx,
        "--observation-end",
        "2024-09-30",
        "--holdout-end",
        "2024-12-29",
        "--budget",
        "300",
        "--backtest-folds",
        "2",
        "--output",
        &html,
    ]));
    let page = std::fs::read_to_string(&html).unwrap();
    // Two folds of the holdout's length (90 days), the last ending at --holdout-end.
    assert!(
        page.contains("2 folds with 90-day holdouts"),
        "backtest section"
    );
    assert!(page.contains("2024-12-29") && page.contains("2024-09-30"));
    assert_eq!(page.matches("<svg").count(), 12, "every chart drawn");
    assert!(!page.contains("not available"), "no section missing");

    let list: Value = serde_json::from_str(&ok(server.run(&["models", "list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let show: Value =
        serde_json::from_str(&ok(server.run(&["models", "show", "sim", "--json"]))).unwrap();
    assert_eq!(show["fingerprint"].as_str().unwrap().len(), 64);
    // `models show` has the holdout as `fit` printed it, deciles and gain curves included.
    assert_eq!(show["holdout"]["deciles"], fit["holdout"]["deciles"]);
    assert_eq!(show["holdout"]["gain_curve"], fit["holdout"]["gain_curve"]);
    assert_eq!(show["holdout"]["baselines"], fit["holdout"]["baselines"]);
    ok(server.run(&["models", "delete", "sim"]));
    let out = server.run(&["models", "show", "sim"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "unknown model is a server error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOT_FOUND"));
}

#[test]
fn bad_files_and_refused_requests_say_where_and_why() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = p(d, "bad.csv");
    std::fs::write(
        &bad,
        "customer_id,frequency,recency,T\na,1,2,3\nb,1,2,oops\n",
    )
    .unwrap();
    let out = server.run(&["fit", "--input", &bad, "--name", "x"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("column 4"), "{err}");

    let log = p(d, "log.csv");
    std::fs::write(
        &log,
        "customer_id,date,amount\na,2024-01-05,10\nb,2024-02-30,5\n",
    )
    .unwrap();
    let out = server.run(&[
        "fit",
        "--input",
        &log,
        "--observation-end",
        "2024-06-30",
        "--name",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("column 2"), "{err}");

    // A summary the service would refuse is named by its line and column here.
    let neg = p(d, "neg.csv");
    std::fs::write(&neg, "customer_id,frequency,recency,T\na,1,5,3\n").unwrap();
    let out = server.run(&["fit", "--input", &neg, "--name", "x"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2") && err.contains("column 3") && err.contains("recency"),
        "{err}"
    );

    // A repeated customer is named by its two lines here, before the server sees it.
    let dup = p(d, "dup.csv");
    std::fs::write(&dup, "customer_id,frequency,recency,T\na,1,2,3\na,1,2,3\n").unwrap();
    let out = server.run(&["fit", "--input", &dup, "--name", "x"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3, column 1") && err.contains("first on line 2"),
        "{err}"
    );

    // The server's field violations come back in plain words.
    let two = p(d, "two.csv");
    std::fs::write(&two, "customer_id,frequency,recency,T\na,1,2,3\nb,0,0,3\n").unwrap();
    let out = server.run(&["fit", "--input", &two, "--name", "x", "--penalizer=-1"]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("INVALID_ARGUMENT") && err.contains("spec.penalizer"),
        "{err}"
    );

    let out = server.run(&[
        "fit",
        "--input",
        &neg,
        "--name",
        "x",
        "--time-unit",
        "fortnight",
    ]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn a_server_that_is_down_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = custval(&format!("http://127.0.0.1:{port}"), &["health"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}

/// `fit --model auto` on CDNOW with a holdout: the selection names the criterion, the
/// winner (the lowest holdout MAE) and every candidate under the CLI's --model names, and
/// the diagnostics carry structured warnings.
#[test]
fn fit_auto_reports_the_competition() {
    let server = Server::start();
    let sample = cdnow("CDNOW_sample.txt");
    let mut args = vec!["fit", "--input", &sample];
    args.extend_from_slice(&CDNOW_SAMPLE);
    args.extend_from_slice(&[
        "--observation-end",
        "1997-09-30",
        "--holdout-end",
        "1998-06-30",
        "--name",
        "cdnow",
        "--model",
        "auto",
        "--json",
    ]);
    let fit: Value = serde_json::from_str(&ok(server.run(&args))).unwrap();
    let sel = &fit["selection"];
    assert_eq!(sel["criterion"], "holdout_mae");
    let candidates = sel["candidates"].as_array().unwrap();
    let names: Vec<&str> = candidates
        .iter()
        .map(|c| c["model"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bgnbd", "mbgnbd", "pareto-nbd"]);
    let best = candidates
        .iter()
        .min_by(|a, b| {
            let mae = |c: &Value| c["holdout"]["mae"].as_f64().unwrap();
            mae(a).total_cmp(&mae(b))
        })
        .unwrap();
    assert_eq!(sel["chosen"], best["model"]);
    assert_eq!(fit["family"], sel["chosen"]);
    for c in candidates {
        assert!(c["bic"].as_f64().unwrap() > 0.0);
        assert!(c["log_likelihood"].as_f64().unwrap() < 0.0);
        assert!(c["holdout"]["total_error"].as_f64().unwrap() < 0.0, "{c}");
    }
    // Structured warnings: a list of {code, message} (none on this clean fit).
    assert_eq!(fit["diagnostics"]["warnings"], serde_json::json!([]));
    holdout_deciles_and_gain_curves_add_up(&fit["holdout"]);
}

/// The decile calibration and gain curves of a fit on the CDNOW log: the deciles hold
/// every customer and every holdout purchase, lowest predictions first; each curve ends
/// with the whole outcome, never falls, and agrees with the top shares; past_spend is the
/// total calibration spend, since the CLI summarized a log.
fn holdout_deciles_and_gain_curves_add_up(h: &Value) {
    let deciles = h["deciles"].as_array().unwrap();
    assert!((5..=10).contains(&deciles.len()), "{deciles:?}");
    let count = |d: &Value| d["customers"].as_u64().unwrap();
    let customers: u64 = deciles.iter().map(count).sum();
    assert_eq!(customers, h["customers"].as_u64().unwrap());
    let purchases: f64 = deciles
        .iter()
        .map(|d| d["mean_actual"].as_f64().unwrap() * count(d) as f64)
        .sum();
    assert!((purchases - h["actual_total"].as_f64().unwrap()).abs() < 1e-6);
    let predicted: Vec<f64> = deciles
        .iter()
        .map(|d| d["mean_predicted"].as_f64().unwrap())
        .collect();
    assert!(predicted.windows(2).all(|w| w[0] < w[1]), "{predicted:?}");

    let curve = &h["gain_curve"];
    let shares: Vec<f64> = curve["customer_share"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(shares.len(), 20);
    assert!((shares[1] - 0.10).abs() < 1e-12 && shares[19] == 1.0);
    let baselines = h["baselines"].as_array().unwrap();
    let mut curves = vec![(&h["ranking"], &curve["model"])];
    curves.extend(
        baselines
            .iter()
            .map(|b| (b, &curve["baselines"][b["name"].as_str().unwrap()])),
    );
    for (metrics, points) in curves {
        let points: Vec<f64> = points
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            points.windows(2).all(|w| w[0] <= w[1] + 1e-12),
            "{points:?}"
        );
        assert!((points[19] - 1.0).abs() < 1e-12);
        let top10 = metrics["top_share"]["10%"].as_f64().unwrap();
        assert!((points[1] - top10).abs() < 1e-12, "{metrics}");
    }
    let past_spend = &baselines[0];
    assert_eq!(past_spend["name"], "past_spend");
    assert!(
        past_spend["description"]
            .as_str()
            .unwrap()
            .contains("first purchase included"),
        "{past_spend}"
    );
    // Revenue has its own deciles and curves.
    assert!(!h["revenue_deciles"].as_array().unwrap().is_empty());
    assert_eq!(
        h["revenue_gain_curve"]["model"].as_array().unwrap().len(),
        20
    );
}

/// `custval backtest`: a rolling origin over the end of CDNOW, every family on every
/// fold beside the naive baselines, the winner by mean holdout MAE stored under --name.
#[test]
fn backtest_ranks_families_over_folds_and_stores_the_winner() {
    let server = Server::start();
    let sample = cdnow("CDNOW_sample.txt");
    let mut args = vec!["backtest", "--input", &sample];
    args.extend_from_slice(&CDNOW_SAMPLE);
    args.extend_from_slice(&[
        "--data-end",
        "1998-06-30",
        "--holdout",
        "13",
        "--folds",
        "2",
        "--name",
        "cdnow-bt",
        "--json",
    ]);
    let r: Value = serde_json::from_str(&ok(server.run(&args))).unwrap();
    assert_eq!(r["criterion"], "mean_holdout_mae");
    assert_eq!(r["time_unit"], "week");
    assert_eq!(r["holdout_days"], 91);
    let folds = r["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 2);
    assert_eq!(folds[0]["calibration_end"], "1997-12-30");
    assert_eq!(folds[1]["holdout_end"], "1998-06-30");
    for f in folds {
        let names: Vec<&str> = f["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["model"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["bgnbd", "mbgnbd", "pareto-nbd"]);
        for c in f["candidates"].as_array().unwrap() {
            let h = &c["holdout"];
            assert!(h["mae"].as_f64().unwrap() > 0.0, "{c}");
            assert!(h["ranking"]["normalized_gini"].as_f64().is_some(), "{c}");
            let baselines: Vec<&str> = h["baselines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["name"].as_str().unwrap())
                .collect();
            assert!(baselines.contains(&"past_frequency"), "{baselines:?}");
            assert!(c["warnings"].is_array(), "{c}");
        }
    }
    let summaries = r["summaries"].as_array().unwrap();
    let best = summaries
        .iter()
        .min_by(|a, b| {
            let mae = |s: &Value| s["mean_holdout_mae"].as_f64().unwrap();
            mae(a).total_cmp(&mae(b))
        })
        .unwrap();
    assert_eq!(r["chosen"], best["model"]);
    assert_eq!(r["model"]["name"], "cdnow-bt");
    assert_eq!(r["model"]["family"], r["chosen"]);

    // Text output says the same, and a summary file is refused: it cannot be re-cut.
    args.retain(|a| *a != "--json" && *a != "--name" && *a != "cdnow-bt");
    let text = ok(server.run(&args));
    assert!(text.contains("chosen by mean_holdout_mae"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.csv");
    std::fs::write(
        &summary,
        "customer_id,frequency,recency,T,monetary_value\n1,2,10,30,5.5\n",
    )
    .unwrap();
    let summary = summary.to_str().unwrap();
    let err = fails(
        server.run(&[
            "backtest",
            "--input",
            summary,
            "--data-end",
            "1998-06-30",
            "--holdout",
            "13",
            "--folds",
            "2",
        ]),
        2,
    );
    assert!(err.contains("summaries cannot be re-cut"), "{err}");
}

/// A reader that closes the pipe early (`custval info | head -c 10`) ends the command
/// quietly with SIGPIPE's status, not with a panic; so does `score --output -`.
#[test]
fn a_closed_stdout_ends_quietly() {
    let closed = |args: &[&str]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_custval"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    let (code, stderr) = closed(&["info"]);
    assert_eq!(code, Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let tx = p(dir.path(), "s.csv");
    ok(server.run(&["simulate", "--customers", "2000", "--output", &tx]));
    ok(server.run(&["fit", "--input", &tx, "--name", "m", "--model", "bgnbd"]));
    let url = server.url.clone();
    let (code, stderr) = closed(&[
        "--server", &url, "score", "--model", "m", "--input", &tx, "--output", "-",
    ]);
    assert_eq!(code, Some(141), "{stderr}");
    assert!(stderr.is_empty() || !stderr.contains("error"), "{stderr}");
}

/// A log with two rows after the observation end: an error that names the way out, then
/// `--ignore-later-rows` leaves them out and says how many, in `fit`, `summarize` and
/// `score` alike.
#[test]
fn rows_after_the_end_are_an_error_naming_the_flag_or_left_out_with_it() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let log = p(dir.path(), "log.csv");
    std::fs::write(
        &log,
        "customer_id,date,amount\n\
         a,2024-01-05,10\na,2024-02-05,12\na,2024-03-05,9\n\
         b,2024-01-20,5\nb,2024-04-02,7\n\
         c,2024-02-11,3\nc,2024-07-01,4\nd,2024-08-15,6\n",
    )
    .unwrap();
    let fit = |extra: &[&str]| {
        let mut args = vec![
            "fit",
            "--input",
            &log,
            "--observation-end",
            "2024-06-30",
            "--name",
            "late",
            "--family",
            "bgnbd",
            "--spend",
            "none",
        ];
        args.extend_from_slice(extra);
        server.run(&args)
    };
    let err = fails(fit(&[]), 3);
    assert!(
        err.contains("line 8") && err.contains("--ignore-later-rows"),
        "{err}"
    );
    let out = fit(&["--ignore-later-rows", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let fitted: Value = serde_json::from_str(&ok(out)).unwrap();
    assert!(
        stderr.contains("left out 2 rows of 8 dated after 2024-06-30"),
        "{stderr}"
    );
    let show: Value =
        serde_json::from_str(&ok(server.run(&["models", "show", "late", "--json"]))).unwrap();
    assert_eq!(show["training"]["customers"], 3, "{fitted}");
    assert_eq!(show["training"]["transactions"], 6);

    let summ = p(dir.path(), "summ.csv");
    let s: Value = serde_json::from_str(&ok(server.run(&[
        "summarize",
        "--input",
        &log,
        "--observation-end",
        "2024-06-30",
        "--ignore-later-rows",
        "--output",
        &summ,
        "--json",
    ])))
    .unwrap();
    assert_eq!(s["rows_after_end"], 2);
    assert_eq!(s["rows_read"], 8);
    assert_eq!(s["customers"], 3);

    // A backtest's log is cut by the server: its refusal names the flag too.
    let backtest = [
        "backtest",
        "--input",
        &log,
        "--data-end",
        "2024-06-30",
        "--holdout",
        "8",
        "--folds",
        "1",
    ];
    let err = fails(server.run(&backtest), 4);
    assert!(
        err.contains("after the data end") && err.contains("--ignore-later-rows"),
        "{err}"
    );
}

/// One name for the holdout: `summarize --observation-end --holdout-end` writes the
/// holdout columns, and `fit` on that file judges the model on them exactly as `fit` on
/// the log with the same split does. A file with holdout purchases but no length is an
/// error that says so, never silently a fit without a holdout.
#[test]
fn summarize_and_fit_share_the_holdout() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tx = p(d, "tx.csv");
    ok(server.run(&[
        "simulate",
        "--customers",
        "2000",
        "--transactions",
        "--output",
        &tx,
    ]));
    let split = [
        "--observation-end",
        "2024-09-30",
        "--holdout-end",
        "2024-12-29",
    ];
    let mut args = vec!["fit", "--input", &tx, "--name", "log", "--family", "bgnbd"];
    args.extend_from_slice(&split);
    args.push("--json");
    let from_log: Value = serde_json::from_str(&ok(server.run(&args))).unwrap();

    for (file, kind) in [("summ.csv", "csv"), ("summ.parquet", "parquet")] {
        let summ = p(d, file);
        let mut args = vec!["summarize", "--input", &tx, "--output", &summ, "--json"];
        args.extend_from_slice(&split);
        let s: Value = serde_json::from_str(&ok(server.run(&args))).unwrap();
        assert_eq!(s["format"], kind);
        assert_eq!(
            s["columns"],
            serde_json::json!([
                "customer_id",
                "frequency",
                "recency",
                "T",
                "monetary_value",
                "frequency_holdout",
                "spend_holdout",
                "duration_holdout",
                "calibration_spend"
            ])
        );
        assert_eq!(s["observation_end"], "2024-09-30");
        assert_eq!(s["holdout_end"], "2024-12-29");
        let out = server.run(&[
            "fit", "--input", &summ, "--name", "summ", "--family", "bgnbd", "--json",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let from_summ: Value = serde_json::from_str(&ok(out)).unwrap();
        assert!(stderr.contains("duration_holdout"), "{stderr}");
        let (a, b) = (&from_log["holdout"], &from_summ["holdout"]);
        assert!(a.is_object(), "{from_log}");
        for k in ["customers", "actual_total", "duration"] {
            assert_eq!(a[k], b[k], "{k}");
        }
        for k in ["predicted_total", "mae", "rmse"] {
            let (x, y) = (a[k].as_f64().unwrap(), b[k].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{k}: {x} vs {y}");
        }
        // The past_spend baseline is the total calibration spend in both.
        assert_eq!(
            a["baselines"][0]["description"],
            b["baselines"][0]["description"]
        );
        assert_eq!(a["revenue_ranking"]["outcome"], "revenue");
        assert_eq!(b["revenue_ranking"]["outcome"], "revenue");
    }

    // lifetimes' calibration/holdout names work too; no length is an error.
    let lifetimes = p(d, "lifetimes.csv");
    std::fs::write(
        &lifetimes,
        "customer_id,frequency,recency,T,monetary_value,frequency_holdout,monetary_value_holdout\n\
         a,2,10,30,5,1,4\nb,0,0,20,0,0,0\n",
    )
    .unwrap();
    let err = fails(
        server.run(&["fit", "--input", &lifetimes, "--name", "x"]),
        3,
    );
    assert!(
        err.contains("duration_holdout") && err.contains("frequency_holdout"),
        "{err}"
    );
    // The old spelling of summarize's holdout still means what it meant.
    let old = p(d, "old.csv");
    ok(server.run(&[
        "summarize",
        "--input",
        &tx,
        "--calibration-end",
        "2024-09-30",
        "--observation-end",
        "2024-12-29",
        "--output",
        &old,
    ]));
    assert_eq!(
        std::fs::read_to_string(&old).unwrap(),
        std::fs::read_to_string(p(d, "summ.csv")).unwrap()
    );
}

/// `models show` and `fit --json` say what the model is: family (the chosen one with
/// `--family auto`, never "auto"), unit, spend model, standard errors, every holdout
/// metric, and what it was trained on (a log the CLI summarized is a log).
#[test]
fn models_show_and_fit_json_say_what_the_model_is() {
    let server = Server::start();
    let sample = cdnow("CDNOW_sample.txt");
    let mut args = vec!["fit", "--input", &sample];
    args.extend_from_slice(&CDNOW_SAMPLE);
    args.extend_from_slice(&[
        "--observation-end",
        "1997-09-30",
        "--holdout-end",
        "1998-06-30",
        "--name",
        "cdnow",
        "--json",
    ]);
    let fit: Value = serde_json::from_str(&ok(server.run(&args))).unwrap();
    assert_ne!(fit["transaction_model"], "auto");
    assert_eq!(fit["transaction_model"], fit["selection"]["chosen"]);
    let show: Value =
        serde_json::from_str(&ok(server.run(&["models", "show", "cdnow", "--json"]))).unwrap();
    for v in [&fit, &show] {
        assert_eq!(v["family"], fit["selection"]["chosen"]);
        assert_eq!(v["time_unit"], "week");
        assert_eq!(v["spend_model"], "gamma-gamma");
        let params = v["params"].as_object().unwrap();
        let errors = v["standard_errors"].as_object().unwrap();
        assert_eq!(params.len(), errors.len());
        for (name, se) in errors {
            assert!(se.as_f64().unwrap() > 0.0, "{name}: {se}");
        }
        assert!(v["spend_standard_errors"]["p"].as_f64().unwrap() > 0.0);
        let h = &v["holdout"];
        assert_eq!(h["duration"]["unit"], "week");
        assert!(h["duration"]["value"].as_f64().unwrap() > 38.0);
        assert!(h["by_frequency"].as_array().unwrap().len() >= 7, "{h}");
        assert!(h["ranking"]["top_lift"]["10%"].as_f64().unwrap() > 1.0);
        assert!(v["diagnostics"]["observations"].as_f64().unwrap() > 2000.0);
    }
    assert_eq!(show["holdout"], fit["holdout"]);
    let t = &show["training"];
    assert_eq!(t["input_kind"], "transactions", "{t}");
    assert_eq!(t["summarized_by_client"], true);
    assert_eq!(t["transactions"], 6919, "every row of the sample: {t}");
    assert_eq!(t["observation_end"], "1997-09-30");
    assert_eq!(t["holdout_end"], "1998-06-30");

    let text = ok(server.run(&["models", "show", "cdnow"]));
    assert!(text.contains("rates per week"), "{text}");
    assert!(text.contains("from a transaction log"), "{text}");
    assert!(text.contains(" ± "), "{text}");
    assert!(
        text.contains("holdout over") && text.contains("MAE"),
        "{text}"
    );
    assert!(text.contains("ranking purchases"), "{text}");

    // Summaries are summaries.
    let summ = cdnow(common::CDNOW_RENAMED);
    let mut args = vec![
        "fit", "--input", &summ, "--name", "summ", "--family", "bgnbd",
    ];
    args.extend_from_slice(&common::CDNOW_RENAMED_COLUMNS);
    ok(server.run(&args));
    let show: Value =
        serde_json::from_str(&ok(server.run(&["models", "show", "summ", "--json"]))).unwrap();
    assert_eq!(show["training"]["input_kind"], "summaries");
    assert_eq!(show["training"]["summarized_by_client"], false);
    assert!(show["holdout"].is_null());
}

/// `--json` on the commands that lacked it, each a JSON object on stdout with what it did;
/// and one name for the stored model (`--name`) in every command's help.
#[test]
fn every_command_has_json_and_one_name_for_the_model() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let health: Value = serde_json::from_str(&ok(server.run(&["health", "--json"]))).unwrap();
    assert_eq!(health["status"], "SERVING");
    assert_eq!(health["serving"], true);

    let tx = p(d, "tx.csv");
    let sim: Value = serde_json::from_str(&ok(server.run(&[
        "simulate",
        "--customers",
        "500",
        "--transactions",
        "--output",
        &tx,
        "--json",
    ])))
    .unwrap();
    assert_eq!(sim["kind"], "transactions");
    assert_eq!(sim["customers"], 500);
    let text = std::fs::read_to_string(&tx).unwrap();
    assert_eq!(
        sim["transactions"].as_u64().unwrap() as usize,
        text.lines().count() - 1
    );
    assert!(text.ends_with('\n'));
    let summ = p(d, "summ.csv");
    let sim: Value = serde_json::from_str(&ok(server.run(&[
        "simulate",
        "--customers",
        "500",
        "--output",
        &summ,
        "--json",
    ])))
    .unwrap();
    assert_eq!(sim["kind"], "summaries");
    assert!(std::fs::read_to_string(&summ).unwrap().ends_with('\n'));

    ok(server.run(&["fit", "--input", &summ, "--name", "m", "--family", "bgnbd"]));
    ok(server.run(&["fit", "--input", &summ, "--name", "m", "--model", "bgnbd"]));
    let scores = p(d, "scores.csv");
    let score: Value = serde_json::from_str(&ok(server.run(&[
        "score",
        "--name",
        "m",
        "--input",
        &tx,
        "--observation-end",
        "2024-12-29",
        "--output",
        &scores,
        "--json",
    ])))
    .unwrap();
    // The time and rate count reading the log, which is summarized before streaming.
    let (seconds, read) = (
        score["seconds"].as_f64().unwrap(),
        score["read_seconds"].as_f64().unwrap(),
    );
    assert!(read > 0.0 && read <= seconds, "{score}");
    let rate = score["customers_per_second"].as_f64().unwrap();
    assert!((rate * seconds - 500.0).abs() < 1e-6, "{score}");

    let html = p(d, "r.html");
    let report: Value = serde_json::from_str(&ok(
        server.run(&["report", "--name", "m", "--output", &html, "--json"])
    ))
    .unwrap();
    assert_eq!(report["version"], 2);
    assert_eq!(report["sections"]["segments"]["drawn"], false);
    assert!(
        report["sections"]["segments"]["why"]
            .as_str()
            .unwrap()
            .contains("--input")
    );

    let deleted: Value = serde_json::from_str(&ok(server.run(&[
        "models",
        "delete",
        "m",
        "--version",
        "1",
        "--json",
    ])))
    .unwrap();
    assert_eq!(
        deleted,
        serde_json::json!({"name": "m", "deleted_versions": [1]})
    );

    // `--name` is the stored model everywhere; `--family` is what fit and backtest fit.
    for command in ["score", "segment", "recommend", "report"] {
        let help = ok(server.run(&[command, "--help"]));
        assert!(help.contains("--name <NAME>"), "{command}: {help}");
        // The old spelling still works but is no option of its own.
        assert!(!help.contains("--model <"), "{command}: {help}");
    }
    for command in ["fit", "backtest"] {
        let help = ok(server.run(&[command, "--help"]));
        assert!(help.contains("--family <FAMILY>"), "{command}: {help}");
        assert!(!help.contains("--model <"), "{command}: {help}");
    }
}

/// The server's default store, `./custval-data`, is not committed by accident.
#[test]
fn the_default_store_is_git_ignored() {
    let ignore =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.gitignore")).unwrap();
    assert!(
        ignore
            .lines()
            .any(|l| l.trim().trim_end_matches('/') == "/custval-data"),
        "{ignore}"
    );
}
