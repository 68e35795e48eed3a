//! The HTML report built from real data — CDNOW fitted, segmented and planned by a
//! custval-server started in-process, tracking computed locally — checked as text and as
//! pixels: headless Chromium renders it and the screenshot must show the charts.
//!
//! Needs Debian's `chromium` package (`scripts/test`, the README's test command that
//! `.ci/run` calls, installs it when it is missing). `CUSTVAL_SKIP_BROWSER=1` skips the browser half with a notice.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::AsyncServer;
use custval_client::ConnectOptions;
use custval_client::report::{self, PAliveMatrix, ReportData};
use custval_model::data::summary::{
    ColumnRef, CsvOptions, DateFormat, Day, Delimiter, RowPolicy, SummaryConfig, parse_day,
    summarize_csv,
};
use custval_model::predict::tracking::{Calendar, track_transactions};
use custval_model::{CustomerTable, TimeUnit};
use custval_proto::v1 as pb;

fn cdnow_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/cdnow")
}

fn day(y: i32, m: u32, d: u32) -> Day {
    Day::from_ymd(y, m, d).unwrap()
}

/// CDNOW calibration summaries (weeks, calibration to 1997-09-30, holdout to 1998-06-30).
fn cdnow_table() -> CustomerTable {
    let file = std::fs::File::open(cdnow_dir().join("CDNOW_sample.txt")).unwrap();
    let options = CsvOptions {
        has_header: false,
        delimiter: Delimiter::Whitespace,
        customer_id: ColumnRef::Index(1),
        date: ColumnRef::Index(2),
        amount: ColumnRef::Index(4),
        date_format: DateFormat::Compact,
    };
    let config = SummaryConfig {
        unit: TimeUnit::Week,
        observation_end: day(1998, 6, 30),
        calibration_end: Some(day(1997, 9, 30)),
        policy: RowPolicy::Strict,
    };
    summarize_csv(file, &options, config).unwrap().table
}

/// (customer, purchase day) rows of CDNOW_sample.txt.
fn cdnow_transactions() -> Vec<(String, Day)> {
    std::fs::read_to_string(cdnow_dir().join("CDNOW_sample.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[1].to_owned(),
                parse_day(f[2].as_bytes(), DateFormat::Compact).unwrap(),
            )
        })
        .collect()
}

fn columns(t: &CustomerTable, holdout: bool) -> pb::SummaryColumns {
    let h = t.holdout.as_ref().unwrap();
    pb::SummaryColumns {
        customer_id: t.ids.clone(),
        frequency: t.rfm.iter().map(|c| c.frequency).collect(),
        recency: t.rfm.iter().map(|c| c.recency).collect(),
        age: t.rfm.iter().map(|c| c.age).collect(),
        monetary_value: t.monetary_value.clone(),
        holdout_frequency: if holdout { h.frequency.clone() } else { vec![] },
        holdout_spend: if holdout { h.spend.clone() } else { vec![] },
        // As `custval fit` sends a summarized log: past_spend ranks by total spend.
        calibration_spend: match (&t.calibration_spend, holdout) {
            (Some(total), true) => total.clone(),
            _ => vec![],
        },
    }
}

fn weeks(value: f64) -> pb::Duration {
    pb::Duration {
        value,
        unit: pb::TimeUnit::Week as i32,
    }
}

/// What `custval report` gathers: GetModel, ModelMetadata, Segment and Recommend from the
/// server, tracking from the transaction log, the P(alive) matrix at the calibration age.
async fn report_data() -> ReportData {
    let table = cdnow_table();
    let server = AsyncServer::start(&[]).await;
    let connect = ConnectOptions::new(format!("http://{}", server.addr));
    let mut conn = None;
    for _ in 0..500 {
        if let Ok(c) = connect.connect().await
            && c.models()
                .list_models(pb::ListModelsRequest::default())
                .await
                .is_ok()
        {
            conn = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let conn = conn.expect("the server did not become ready");

    let mut spec = pb::FitSpec {
        name: "cdnow".into(),
        transaction_model: pb::TransactionModelKind::BgNbd as i32,
        spend_model: pb::SpendModelKind::GammaGamma as i32,
        time_unit: pb::TimeUnit::Week as i32,
        holdout_duration: Some(weeks(39.0)),
        ..Default::default()
    };
    // 1997-09-30, without naming the timestamp type.
    spec.observation_end = Some(Default::default());
    if let Some(t) = spec.observation_end.as_mut() {
        t.seconds = i64::from(day(1997, 9, 30).0) * 86_400;
    }
    let fitted = conn
        .models()
        .fit_model(pb::FitModelRequest {
            spec: Some(spec),
            customers: vec![],
            summary_columns: Some(columns(&table, true)),
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    let model = conn
        .models()
        .get_model(pb::GetModelRequest {
            name: "cdnow".into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(model.version, fitted.version);
    let metadata = conn
        .models()
        .model_metadata(pb::ModelMetadataRequest {
            name: "cdnow".into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let options = pb::ScoreOptions {
        model_name: "cdnow".into(),
        horizon: Some(weeks(52.0)),
        time_unit: pb::TimeUnit::Week as i32,
        ..Default::default()
    };
    let mut segments = conn
        .scoring()
        .segment(pb::SegmentRequest {
            options: Some(options.clone()),
            summary_columns: Some(columns(&table, false)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // The report does not list customers one by one.
    segments.customers.clear();
    let mut recommendations = conn
        .scoring()
        .recommend(pb::RecommendRequest {
            options: Some(options),
            summary_columns: Some(columns(&table, false)),
            budget: Some(300.0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    recommendations.recommendations.clear();
    // Two 13-week holdouts at the end of the log, every family on each.
    let mut by_id: std::collections::BTreeMap<String, pb::Customer> = Default::default();
    for (id, d) in cdnow_transactions() {
        let time = prost_types::Timestamp {
            seconds: i64::from(d.0) * 86_400,
            nanos: 0,
        };
        by_id
            .entry(id.clone())
            .or_insert_with(|| pb::Customer {
                customer_id: id,
                ..Default::default()
            })
            .transactions
            .push(pb::Transaction {
                time: Some(time),
                amount: 0.0,
            });
    }
    let data_end = prost_types::Timestamp {
        seconds: i64::from(day(1998, 6, 30).0) * 86_400,
        nanos: 0,
    };
    let backtest = conn
        .models()
        .backtest(tokio_stream::iter(vec![pb::BacktestChunk {
            spec: Some(pb::BacktestSpec {
                time_unit: pb::TimeUnit::Week as i32,
                data_end: Some(data_end),
                holdout: Some(weeks(13.0)),
                folds: 2,
                ..Default::default()
            }),
            customers: by_id.into_values().collect(),
        }]))
        .await
        .unwrap()
        .into_inner();
    drop(conn);
    server.stop().await;

    let tm = report::transaction_model_from_proto(&model).unwrap();
    let calendar =
        Calendar::weekly(day(1997, 1, 1), day(1998, 6, 30), Some(day(1997, 9, 30))).unwrap();
    let tracking = track_transactions(&tm, TimeUnit::Week, &calendar, cdnow_transactions());
    let age = table.rfm.iter().map(|c| c.age).fold(0.0, f64::max);

    let mut data = ReportData::new("Model cdnow <BG/NBD & Gamma-Gamma>");
    data.subtitle = "CDNOW sample, 2,357 customers; calibration to 1997-09-30".into();
    data.model = Ok(model);
    data.metadata = Ok(metadata);
    data.tracking = tracking.map_err(|e| e.to_string());
    data.p_alive = Ok(PAliveMatrix::at_age(age));
    data.segments = Ok(segments);
    data.recommendations = Ok(recommendations);
    data.backtest = Ok(backtest);
    data
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Words that would mean a number went wrong on its way into the page.
fn non_finite_words(html: &str) -> Vec<String> {
    html.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| matches!(w.to_ascii_lowercase().as_str(), "nan" | "inf" | "infinity"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn report_renders_every_section_and_the_browser_draws_the_charts() {
    let data = runtime().block_on(report_data());
    let html = report::render(&data);

    // Structure: every section with content, the charts, titles, nothing broken.
    for id in report::SECTIONS {
        let start = html
            .find(&format!("<section id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no section {id}"));
        let body = &html[start..start + html[start..].find("</section>").unwrap()];
        assert!(
            !body.contains("not available"),
            "section {id} says: {}",
            &body[body.find("not available").unwrap()..][..120.min(body.len())]
        );
    }
    let svgs = html.matches("<svg ").count();
    assert_eq!(
        svgs, 12,
        "one chart each: tracking ×2, bins, deciles ×2, gain ×2, P(alive), curve, segments, \
         tiers, budget"
    );
    assert_eq!(html.matches("</svg>").count(), svgs);
    // Each SVG opens with its <title>.
    for part in html.split("<svg ").skip(1) {
        let head = &part[..part.find('>').unwrap() + 1 + 40.min(part.len())];
        assert!(
            part[part.find('>').unwrap()..]
                .trim_start_matches(['>', '\n'])
                .starts_with("<title id="),
            "an SVG without a leading <title>: {head}"
        );
    }
    assert!(
        non_finite_words(&html).is_empty(),
        "{:?}",
        non_finite_words(&html)
    );
    assert!(
        !html.contains("<script"),
        "the report must not need scripts"
    );
    assert!(!html.contains("http://") || !html.contains("src=\"http"));
    assert!(html.contains("<h1>Model cdnow &lt;BG/NBD &amp; Gamma-Gamma&gt;</h1>"));
    // Numbers for people: the holdout's 1,882 actual repeat purchases, the 2,357 customers.
    assert!(html.contains("1,882"), "holdout actual total");
    // The model's ranking beside the naive baselines, and where it loses.
    assert!(html.contains("Customers ranked by holdout purchases"));
    for name in ["past_spend", "past_frequency", "same_rate"] {
        assert!(html.contains(&format!("<tr><th>{name}</th>")), "{name}");
    }
    assert!(html.contains("2,357"));
    // The log's first purchases are known: past_spend says it ranks by total spend.
    assert!(html.contains("total calibration spend, first purchase included"));
    deciles_and_gain_curves_are_drawn(&data, &html);
    // The backtest: every family over the folds, then fold by fold.
    assert!(html.contains("<h3>Over the folds</h3>") && html.contains("<h3>Fold by fold</h3>"));
    for family in ["bgnbd", "mbgnbd", "pareto-nbd"] {
        assert!(
            html.contains(&format!("<th>{family}</th>"))
                || html.contains(&format!("<th>{family} ✓</th>")),
            "{family}"
        );
    }
    assert!(
        html.contains("1998-03-31") && html.contains("1998-06-30"),
        "fold dates"
    );
    // The tracking table: calibration and holdout rows.
    assert!(html.contains("Calibration (weeks 1–39)"));
    assert!(html.contains("Holdout (weeks 40–78)"));
    // Parameters with standard errors and the spend model.
    for name in [
        "<td>r</td>",
        "<td>alpha</td>",
        "<td>a</td>",
        "<td>b</td>",
        "<td>p</td>",
        "<td>q</td>",
        "<td>v</td>",
    ] {
        assert!(html.contains(name), "{name}");
    }

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    if let Ok(keep) = std::env::var("CUSTVAL_REPORT_OUT") {
        std::fs::write(&keep, &html).unwrap();
    }

    if std::env::var("CUSTVAL_SKIP_BROWSER").as_deref() == Ok("1") {
        println!("CUSTVAL_SKIP_BROWSER=1: not rendering the report in Chromium");
        return;
    }
    let Some(browser) = find_browser() else {
        panic!(
            "Chromium is not installed: the report test renders the page in headless Chromium. \
             Install Debian's `chromium` package (apt-get install --no-install-recommends \
             chromium; scripts/test does this), or set CUSTVAL_SKIP_BROWSER=1 to skip this part."
        );
    };
    let shot = dir.path().join("report.png");
    screenshot(&browser, &page, &shot, dir.path());
    if let Ok(keep) = std::env::var("CUSTVAL_REPORT_PNG") {
        std::fs::copy(&shot, keep).unwrap();
    }
    check_screenshot(&shot);
}

/// The decile and gain sections show the model's figures: one table row per decile with
/// its customers, a chart per outcome with the model, every baseline and the diagonal,
/// and the sentence on the top 20 % with the model's own share.
fn deciles_and_gain_curves_are_drawn(data: &ReportData, html: &str) {
    let model = data.model.as_ref().unwrap();
    let holdout = model.holdout.as_ref().unwrap();
    let section = |id: &str| {
        let start = html.find(&format!("<section id=\"{id}\">")).unwrap();
        &html[start..start + html[start..].find("</section>").unwrap()]
    };
    let (deciles, gain) = (section("deciles"), section("gain"));
    for ranking in [&holdout.purchases_ranking, &holdout.revenue_ranking] {
        let r = ranking.as_ref().unwrap();
        let m = r.model.as_ref().unwrap();
        assert!(
            m.deciles.len() >= 5,
            "{} deciles: {}",
            r.outcome,
            m.deciles.len()
        );
        assert_eq!(m.deciles.iter().map(|d| d.customers).sum::<u64>(), 2357);
        let table = &deciles[deciles
            .find(&format!("id=\"deciles-{}-table\"", r.outcome))
            .unwrap()..];
        let table = &table[..table.find("</table>").unwrap()];
        assert_eq!(table.matches("<tr><td>").count(), m.deciles.len());
        for d in &m.deciles {
            let row = format!(
                "<tr><td>{}</td><td class=\"n\">{}</td>",
                d.decile,
                report::fmt_count(d.customers)
            );
            assert!(table.contains(&row), "{row}");
        }
        assert!(deciles.contains(&format!("id=\"deciles-{}\"", r.outcome)));

        let chart = &gain[gain.find(&format!("id=\"gain-{}\"", r.outcome)).unwrap()..];
        let chart = &chart[..chart.find("</svg>").unwrap()];
        for b in &r.baselines {
            assert!(
                chart.contains(&format!("<title>{}</title></polyline>", b.name)),
                "{} gain curve of {}",
                r.outcome,
                b.name
            );
        }
        assert!(chart.contains("<title>model</title></polyline>"));
        assert!(chart.contains("<title>random</title></polyline>"));
        let top_fifth = m
            .gain
            .iter()
            .find(|g| (g.customer_share - 0.2).abs() < 1e-9)
            .unwrap()
            .outcome_share;
        let sentence = format!(
            "The model&#39;s top 20 % of customers hold {} of holdout {};",
            report::fmt_pct(top_fifth),
            r.outcome
        );
        assert!(gain.contains(&sentence), "{sentence}");
    }
}

fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn screenshot(browser: &Path, page: &Path, shot: &Path, dir: &Path) {
    let profile = dir.join("profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1200,5600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish the screenshot in 120 s",
                browser.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = child
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    assert!(
        status.success() && shot.is_file(),
        "{} failed ({status}):\n{stderr}",
        browser.display()
    );
}

struct Image {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

fn decode(path: &Path) -> Image {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "unexpected PNG depth");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Image {
        width: info.width as usize,
        height: info.height as usize,
        rgb,
    }
}

fn hex(c: &str) -> [u8; 3] {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

fn near(a: [u8; 3], b: [u8; 3], tolerance: i32) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (i32::from(*x) - i32::from(y)).abs() <= tolerance)
}

fn check_screenshot(path: &Path) {
    let img = decode(path);
    assert_eq!((img.width, img.height), (1200, 5600), "screenshot size");
    let white = img
        .rgb
        .iter()
        .filter(|p| p.iter().all(|&c| c >= 245))
        .count();
    let ink = img.rgb.len() - white;
    let share = ink as f64 / img.rgb.len() as f64;
    assert!(
        share > 0.04,
        "the page is almost blank: {:.2}% non-white",
        100.0 * share
    );
    // Colours, quantized to 4 bits a channel: text alone gives a handful of greys.
    let mut distinct = std::collections::HashSet::new();
    for p in &img.rgb {
        distinct.insert([p[0] >> 4, p[1] >> 4, p[2] >> 4]);
    }
    assert!(
        distinct.len() >= 40,
        "only {} distinct colours",
        distinct.len()
    );
    // The charts' own colours, each over a visible area: predicted lines and bars (blue),
    // value shares (amber), the concentration curve (purple), the P(alive) ramp's ends and
    // middle, budget bars (red, green).
    let expected = [
        ("predicted (blue)", "#2563eb", 400),
        ("actual bins (slate)", "#475569", 300),
        ("value share (amber)", "#f59e0b", 300),
        ("concentration (purple)", "#7c3aed", 150),
        ("P(alive) low (viridis dark)", "#440154", 100),
        ("P(alive) middle (viridis teal)", "#21918c", 100),
        ("P(alive) high (viridis yellow)", "#fde725", 100),
        ("budget spent (red)", "#dc2626", 300),
        ("budget value (green)", "#16a34a", 300),
    ];
    let mut report = Vec::new();
    let mut missing = Vec::new();
    for (what, color, min) in expected {
        let c = hex(color);
        let n = img.rgb.iter().filter(|p| near(**p, c, 12)).count();
        report.push(format!("{what}: {n} px"));
        if n < min {
            missing.push(format!("{what}: {n} px < {min}"));
        }
    }
    assert!(
        missing.is_empty(),
        "chart colours missing from the screenshot: {missing:?} (all: {report:?})"
    );
    // Content all the way down the page, not only at the top: every 500 px band has ink.
    for band in 0..img.height / 500 {
        let rows = &img.rgb[band * 500 * img.width..(band + 1) * 500 * img.width];
        let ink = rows.iter().filter(|p| p.iter().any(|&c| c < 200)).count();
        assert!(
            ink > 2_000,
            "band {band} (y {}-{}) is empty",
            band * 500,
            band * 500 + 500
        );
    }
    println!(
        "screenshot: {:.1}% non-white, {} colours; {report:?}",
        100.0 * share,
        distinct.len()
    );
}
