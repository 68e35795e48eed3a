//! A model family is a plug-in for the CLI too: the `custval` binary fits and scores the
//! toy family that this test registers in the server's process, passing the family's
//! name through as the server lists it — the CLI has no list of families of its own.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../server/tests/common/poisson.rs"]
#[allow(dead_code)] // shared with the server tests, which use all of it
mod poisson;

use common::*;
use serde_json::Value;

#[test]
fn the_cli_fits_and_scores_a_family_it_was_never_told_about() {
    poisson::register();
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    // lifetimes' CDNOW summary (weeks) under its own column names.
    let summaries = cdnow(CDNOW_RENAMED);
    let columns = CDNOW_RENAMED_COLUMNS;
    let run = |args: &[&str]| server.run(&[args, &columns[..]].concat());

    // The server lists it beside the built-in families.
    let families: Value =
        serde_json::from_str(&ok(server.run(&["models", "families", "--json"]))).unwrap();
    let names: Vec<&str> = families
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bgnbd", "mbgnbd", "pareto-nbd", "poisson"]);

    let fit: Value = serde_json::from_str(&ok(run(&[
        "fit",
        "--input",
        &summaries,
        "--time-unit",
        "week",
        "--model",
        "poisson",
        "--name",
        "toy",
        "--json",
    ])))
    .unwrap();
    assert_eq!(fit["family"], "poisson");
    assert_eq!(fit["converged"], true);
    let lambda = fit["params"]["lambda"].as_f64().unwrap();
    assert!(lambda > 0.0);

    let scores = p(dir.path(), "scores.csv");
    ok(run(&[
        "score",
        "--model",
        "toy",
        "--input",
        &summaries,
        "--time-unit",
        "week",
        "--output",
        &scores,
    ]));
    let text = std::fs::read_to_string(&scores).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (e, pa) = (col("expected_purchases"), col("p_alive"));
    let mut rows = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[pa].parse::<f64>().unwrap(), 1.0);
        assert!(f[e].parse::<f64>().unwrap() > 0.0);
        rows += 1;
    }
    assert_eq!(rows, 2357);

    // A name the server does not know is the server's clear refusal, not a CLI list.
    let err = fails(
        run(&[
            "fit",
            "--input",
            &summaries,
            "--time-unit",
            "week",
            "--model",
            "nope",
            "--name",
            "x",
        ]),
        4,
    );
    assert!(err.contains("spec.family"), "{err}");
    assert!(err.contains("poisson"), "{err}");
}
