//! Shared by the summary tests: small constructors, a naive reference summarizer and a
//! deterministic random number generator.

use std::collections::BTreeMap;

use super::*;

pub(super) fn d(y: i32, m: u32, dd: u32) -> Day {
    Day::from_ymd(y, m, dd).unwrap()
}

pub(super) fn config(policy: RowPolicy) -> SummaryConfig {
    SummaryConfig {
        unit: TimeUnit::Day,
        observation_end: d(2020, 12, 31),
        calibration_end: None,
        policy,
    }
}

pub(super) fn run(rows: &[(&str, Day, f64)], cfg: SummaryConfig) -> SummaryOutput {
    let mut b = SummaryBuilder::new(cfg).unwrap();
    for (i, &(id, day, amount)) in rows.iter().enumerate() {
        b.push(i as u64 + 1, id, day, amount).unwrap();
    }
    b.finish()
}

pub(super) fn csv(
    text: &str,
    options: &CsvOptions,
    cfg: SummaryConfig,
) -> Result<SummaryOutput, SummaryError> {
    summarize_csv(text.as_bytes(), options, cfg)
}

/// Per-customer (x, recency days, T days, monetary, holdout x, holdout spend) by sorting
/// id -> day -> spend maps: the naive reference.
pub(super) type Ref = Vec<(String, u32, i64, i64, f64, u32, f64)>;

pub(super) fn reference(rows: &[(String, Day, f64)], cfg: &SummaryConfig) -> Ref {
    let cal_end = cfg.calibration_end.unwrap_or(cfg.observation_end);
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<String, BTreeMap<i32, f64>> = BTreeMap::new();
    for (id, day, a) in rows {
        let e = by.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            BTreeMap::new()
        });
        *e.entry(day.0).or_insert(0.0) += a;
    }
    let mut out = Vec::new();
    for id in order {
        let days = &by[&id];
        let first = *days.keys().next().unwrap();
        if first > cal_end.0 {
            continue;
        }
        let cal: Vec<(&i32, &f64)> = days.iter().filter(|(k, _)| **k <= cal_end.0).collect();
        let x = cal.len() as u32 - 1;
        let last = *cal.last().unwrap().0;
        let spend: f64 = cal.iter().skip(1).map(|(_, v)| **v).sum();
        let hold: Vec<f64> = days
            .iter()
            .filter(|(k, _)| **k > cal_end.0)
            .map(|(_, v)| *v)
            .collect();
        out.push((
            id,
            x,
            i64::from(last - first),
            i64::from(cal_end.0 - first),
            if x == 0 { 0.0 } else { spend / f64::from(x) },
            hold.len() as u32,
            hold.iter().sum(),
        ));
    }
    out
}

pub(super) fn as_ref(out: &SummaryOutput) -> Ref {
    let t = &out.table;
    (0..t.len())
        .map(|i| {
            let (hx, hs) = t
                .holdout
                .as_ref()
                .map_or((0, 0.0), |h| (h.frequency[i], h.spend[i]));
            (
                t.ids[i].clone(),
                t.rfm[i].frequency,
                t.rfm[i].recency.round() as i64,
                t.rfm[i].age.round() as i64,
                t.monetary_value[i],
                hx,
                hs,
            )
        })
        .collect()
}

pub(super) fn assert_same(a: &Ref, b: &Ref) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            (&x.0, x.1, x.2, x.3, x.5),
            (&y.0, y.1, y.2, y.3, y.5),
            "{x:?} vs {y:?}"
        );
        assert!(
            (x.4 - y.4).abs() < 1e-9 * (1.0 + y.4.abs()),
            "{x:?} vs {y:?}"
        );
        assert!(
            (x.6 - y.6).abs() < 1e-9 * (1.0 + y.6.abs()),
            "{x:?} vs {y:?}"
        );
    }
}

/// xorshift64*, deterministic.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub(super) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

pub(super) fn opts() -> CsvOptions {
    CsvOptions::default()
}
