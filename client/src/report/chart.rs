//! The inline SVG charts of the page (line, column, bar, share, heat map, Lorenz curve)
//! and the axes, ticks and legends they share: one job, drawing, hence above 800 lines.
//! Every chart has a title and a description for screen readers; nothing is scripted.

use custval_proto::v1 as pb;

use super::text::{esc, fmt_fixed, fmt_num, fmt_pct, fmt_sig, w};

// Chart colours.
pub(super) const INK: &str = "#1f2937";
pub(super) const MUTED: &str = "#6b7280";
pub(super) const GRID: &str = "#e5e7eb";
pub(super) const BLUE: &str = "#2563eb";
pub(super) const AMBER: &str = "#f59e0b";
pub(super) const SLATE: &str = "#475569";
pub(super) const PURPLE: &str = "#7c3aed";
pub(super) const RED: &str = "#dc2626";
pub(super) const GREEN: &str = "#16a34a";

/// A plot area inside an SVG of `width` × `height`.
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, v: f64) -> f64 {
        let (lo, hi) = self.x;
        let span = if hi > lo { hi - lo } else { 1.0 };
        finite(self.left + (v - lo) / span * (self.width - self.left - self.right))
    }

    fn py(&self, v: f64) -> f64 {
        let (lo, hi) = self.y;
        let span = if hi > lo { hi - lo } else { 1.0 };
        finite(self.height - self.bottom - (v - lo) / span * (self.height - self.top - self.bottom))
    }

    fn plot_left(&self) -> f64 {
        self.left
    }
    fn plot_right(&self) -> f64 {
        self.width - self.right
    }
    fn plot_top(&self) -> f64 {
        self.top
    }
    fn plot_bottom(&self) -> f64 {
        self.height - self.bottom
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

fn svg_open(out: &mut String, id: &str, title: &str, desc: &str, width: f64, height: f64) {
    w(
        out,
        format_args!(
            "<figure>\n<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" viewBox=\"0 0 {width} {height}\" \
             width=\"{width}\" height=\"{height}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\">\n\
             <title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n\
             <rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n",
            esc(title),
            esc(desc)
        ),
    );
}

fn svg_close(out: &mut String) {
    out.push_str("</svg>\n</figure>\n");
}

/// About `target` round tick values covering [lo, hi].
fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![finite(lo)];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Rounds `hi` up to a tick of a nice scale.
fn nice_max(hi: f64) -> f64 {
    if !(hi.is_finite() && hi > 0.0) {
        return 1.0;
    }
    let ticks = nice_ticks(0.0, hi, 5);
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        hi
    };
    (hi / step).ceil() * step
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, size: u32, color: &str, body: &str) {
    w(
        out,
        format_args!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"{size}\" fill=\"{color}\">{}</text>\n",
            finite(x),
            finite(y),
            esc(body)
        ),
    );
}

fn chart_title(out: &mut String, f: &Frame, title: &str) {
    text(out, f.width / 2.0, 18.0, "middle", 14, INK, title);
}

/// Y grid lines with labels, the x axis line, and the axis titles.
fn y_axis(out: &mut String, f: &Frame, ticks: &[f64], label: &dyn Fn(f64) -> String) {
    for &t in ticks {
        let y = f.py(t);
        w(
            out,
            format_args!(
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>\n",
                f.plot_left(),
                f.plot_right()
            ),
        );
        text(
            out,
            f.plot_left() - 6.0,
            y + 4.0,
            "end",
            11,
            MUTED,
            &label(t),
        );
    }
}

fn axis_titles(out: &mut String, f: &Frame, x_label: &str, y_label: &str) {
    text(
        out,
        (f.plot_left() + f.plot_right()) / 2.0,
        f.height - 8.0,
        "middle",
        12,
        MUTED,
        x_label,
    );
    let (x, y) = (14.0, (f.plot_top() + f.plot_bottom()) / 2.0);
    w(
        out,
        format_args!(
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"12\" fill=\"{MUTED}\" \
             transform=\"rotate(-90 {x:.1} {y:.1})\">{}</text>\n",
            esc(y_label)
        ),
    );
}

fn frame_lines(out: &mut String, f: &Frame) {
    w(
        out,
        format_args!(
            "<line x1=\"{l:.1}\" y1=\"{b:.1}\" x2=\"{r:.1}\" y2=\"{b:.1}\" stroke=\"{INK}\"/>\n\
             <line x1=\"{l:.1}\" y1=\"{t:.1}\" x2=\"{l:.1}\" y2=\"{b:.1}\" stroke=\"{INK}\"/>\n",
            l = f.plot_left(),
            r = f.plot_right(),
            t = f.plot_top(),
            b = f.plot_bottom()
        ),
    );
}

/// A legend row at the top right: (name, colour, dashed line or filled box).
fn legend(out: &mut String, f: &Frame, items: &[(&str, &str, Option<bool>)]) {
    let mut x = f.plot_right();
    let y = f.plot_top() - 8.0;
    for (name, color, line) in items.iter().rev() {
        let width = 7.0 * name.chars().count() as f64 + 30.0;
        x -= width;
        match line {
            Some(dashed) => w(
                out,
                format_args!(
                    "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"2.5\"{}/>\n",
                    x,
                    y - 4.0,
                    x + 18.0,
                    y - 4.0,
                    if *dashed {
                        " stroke-dasharray=\"6 3\""
                    } else {
                        ""
                    }
                ),
            ),
            None => w(
                out,
                format_args!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"14\" height=\"10\" fill=\"{color}\"/>\n",
                    x,
                    y - 9.0
                ),
            ),
        }
        text(out, x + 22.0, y, "start", 11, INK, name);
    }
}

pub(super) struct Series<'a> {
    pub(super) name: String,
    pub(super) color: &'a str,
    pub(super) dashed: bool,
    pub(super) points: Vec<(f64, f64)>,
}

pub(super) struct LineChart<'a> {
    pub(super) id: &'a str,
    pub(super) title: &'a str,
    pub(super) desc: &'a str,
    pub(super) x_label: &'a str,
    pub(super) y_label: &'a str,
    pub(super) series: &'a [Series<'a>],
    /// A vertical line at x with a label.
    pub(super) marker: Option<(f64, &'a str)>,
}

pub(super) fn line_chart(out: &mut String, c: &LineChart<'_>) {
    let points = || {
        c.series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let x_max = points().map(|p| p.0).fold(1.0, f64::max);
    let y_max = nice_max(points().map(|p| p.1).fold(0.0, f64::max));
    let y_min = points().map(|p| p.1).fold(0.0, f64::min);
    let f = Frame {
        width: 560.0,
        height: 300.0,
        left: 64.0,
        right: 16.0,
        top: 44.0,
        bottom: 44.0,
        x: (0.0, x_max),
        y: (y_min, y_max),
    };
    svg_open(out, c.id, c.title, c.desc, f.width, f.height);
    chart_title(out, &f, c.title);
    y_axis(out, &f, &nice_ticks(y_min, y_max, 5), &|v| fmt_num(v));
    for t in nice_ticks(0.0, x_max, 8) {
        let x = f.px(t);
        w(
            out,
            format_args!(
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{INK}\"/>\n",
                f.plot_bottom(),
                f.plot_bottom() + 4.0
            ),
        );
        text(
            out,
            x,
            f.plot_bottom() + 16.0,
            "middle",
            11,
            MUTED,
            &fmt_num(t),
        );
    }
    if let Some((mx, label)) = c.marker {
        let x = f.px(mx);
        w(
            out,
            format_args!(
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{MUTED}\" stroke-dasharray=\"4 4\"/>\n",
                f.plot_top(),
                f.plot_bottom()
            ),
        );
        text(out, x - 4.0, f.plot_top() + 12.0, "end", 11, MUTED, label);
    }
    frame_lines(out, &f);
    for s in c.series {
        let path: Vec<String> = s
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", f.px(x), f.py(y)))
            .collect();
        if path.is_empty() {
            continue;
        }
        w(
            out,
            format_args!(
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\"{} points=\"{}\"><title>{}</title></polyline>\n",
                s.color,
                if s.dashed {
                    " stroke-dasharray=\"7 4\""
                } else {
                    ""
                },
                path.join(" "),
                esc(&s.name)
            ),
        );
    }
    let items: Vec<(&str, &str, Option<bool>)> = c
        .series
        .iter()
        .map(|s| (s.name.as_str(), s.color, Some(s.dashed)))
        .collect();
    legend(out, &f, &items);
    axis_titles(out, &f, c.x_label, c.y_label);
    svg_close(out);
}

pub(super) struct ColumnChart<'a> {
    pub(super) id: &'a str,
    pub(super) title: &'a str,
    pub(super) desc: &'a str,
    pub(super) x_label: &'a str,
    pub(super) y_label: &'a str,
    pub(super) categories: &'a [String],
    pub(super) series: &'a [(&'a str, &'a str, Vec<f64>)],
}

/// Vertical grouped columns, one group per category.
pub(super) fn column_chart(out: &mut String, c: &ColumnChart<'_>) {
    let values = || {
        c.series
            .iter()
            .flat_map(|s| s.2.iter().copied())
            .filter(|v| v.is_finite())
    };
    let y_max = nice_max(values().fold(0.0, f64::max));
    let n = c.categories.len().max(1) as f64;
    let f = Frame {
        width: 560.0,
        height: 300.0,
        left: 64.0,
        right: 16.0,
        top: 44.0,
        bottom: 44.0,
        x: (0.0, n),
        y: (0.0, y_max),
    };
    svg_open(out, c.id, c.title, c.desc, f.width, f.height);
    chart_title(out, &f, c.title);
    y_axis(out, &f, &nice_ticks(0.0, y_max, 5), &|v| fmt_num(v));
    let slot = f.px(1.0) - f.px(0.0);
    let k = c.series.len().max(1) as f64;
    let bar = slot * 0.8 / k;
    for (i, cat) in c.categories.iter().enumerate() {
        let x0 = f.px(i as f64) + slot * 0.1;
        for (j, (name, color, vals)) in c.series.iter().enumerate() {
            let v = vals
                .get(i)
                .copied()
                .filter(|v| v.is_finite())
                .unwrap_or(0.0);
            let (top, bottom) = (f.py(v.max(0.0)), f.py(0.0));
            w(
                out,
                format_args!(
                    "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}: {} {}</title></rect>\n",
                    x0 + j as f64 * bar,
                    (bar - 1.0).max(1.0),
                    (bottom - top).max(0.0),
                    esc(cat),
                    esc(name),
                    fmt_sig(v, 3)
                ),
            );
        }
        text(
            out,
            f.px(i as f64 + 0.5),
            f.plot_bottom() + 16.0,
            "middle",
            11,
            MUTED,
            cat,
        );
    }
    frame_lines(out, &f);
    let items: Vec<(&str, &str, Option<bool>)> =
        c.series.iter().map(|s| (s.0, s.1, None)).collect();
    legend(out, &f, &items);
    axis_titles(out, &f, c.x_label, c.y_label);
    svg_close(out);
}

pub(super) struct BarChart<'a> {
    pub(super) id: &'a str,
    pub(super) title: &'a str,
    pub(super) desc: &'a str,
    pub(super) categories: &'a [String],
    pub(super) series: &'a [(&'a str, &'a str, Vec<f64>)],
    /// Values are shares, labelled as percentages.
    pub(super) percent: bool,
}

/// Horizontal grouped bars, one group per category (labels on the left).
pub(super) fn bar_chart(out: &mut String, c: &BarChart<'_>) {
    let values = || {
        c.series
            .iter()
            .flat_map(|s| s.2.iter().copied())
            .filter(|v| v.is_finite())
    };
    let hi = if c.percent {
        nice_max(values().fold(0.0, f64::max)).min(1.0)
    } else {
        nice_max(values().fold(0.0, f64::max))
    };
    let lo = values().fold(0.0, f64::min);
    let lo = if lo < 0.0 { -nice_max(-lo) } else { 0.0 };
    let n = c.categories.len().max(1);
    let k = c.series.len().max(1);
    let row = (8.0 + 14.0 * k as f64).max(24.0);
    let label_width = c
        .categories
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 28) as f64
        * 6.6
        + 14.0;
    let f = Frame {
        width: 560.0,
        height: 44.0 + 40.0 + row * n as f64,
        left: label_width,
        right: 56.0,
        top: 44.0,
        bottom: 40.0,
        x: (lo, hi),
        y: (0.0, n as f64),
    };
    let fmt = |v: f64| if c.percent { fmt_pct(v) } else { fmt_num(v) };
    svg_open(out, c.id, c.title, c.desc, f.width, f.height);
    chart_title(out, &f, c.title);
    for t in nice_ticks(lo, hi, 5) {
        let x = f.px(t);
        w(
            out,
            format_args!(
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{GRID}\"/>\n",
                f.plot_top(),
                f.plot_bottom()
            ),
        );
        text(out, x, f.plot_bottom() + 16.0, "middle", 11, MUTED, &fmt(t));
    }
    let band = (f.plot_bottom() - f.plot_top()) / n as f64;
    let bar = (band - 8.0) / k as f64;
    let zero = f.px(0.0);
    for (i, cat) in c.categories.iter().enumerate() {
        let y0 = f.plot_top() + band * i as f64 + 4.0;
        let shown: String = if cat.chars().count() > 28 {
            cat.chars().take(27).collect::<String>() + "…"
        } else {
            cat.clone()
        };
        text(
            out,
            f.plot_left() - 6.0,
            y0 + band / 2.0,
            "end",
            11,
            INK,
            &shown,
        );
        for (j, (name, color, vals)) in c.series.iter().enumerate() {
            let v = vals
                .get(i)
                .copied()
                .filter(|v| v.is_finite())
                .unwrap_or(0.0);
            let x = f.px(v);
            let (left, width) = if x >= zero {
                (zero, x - zero)
            } else {
                (x, zero - x)
            };
            let y = y0 + bar * j as f64;
            w(
                out,
                format_args!(
                    "<rect x=\"{left:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}: {} {}</title></rect>\n",
                    width.max(0.5),
                    (bar - 1.0).max(1.0),
                    esc(cat),
                    esc(name),
                    fmt(v)
                ),
            );
            text(
                out,
                left + width + 4.0,
                y + bar / 2.0 + 3.5,
                "start",
                10,
                MUTED,
                &fmt(v),
            );
        }
    }
    w(
        out,
        format_args!(
            "<line x1=\"{zero:.1}\" y1=\"{:.1}\" x2=\"{zero:.1}\" y2=\"{:.1}\" stroke=\"{INK}\"/>\n",
            f.plot_top(),
            f.plot_bottom()
        ),
    );
    let items: Vec<(&str, &str, Option<bool>)> =
        c.series.iter().map(|s| (s.0, s.1, None)).collect();
    legend(out, &f, &items);
    svg_close(out);
}

pub(super) fn share_chart(
    out: &mut String,
    id: &str,
    title: &str,
    names: &[String],
    customer_share: Vec<f64>,
    value_share: Vec<f64>,
) {
    bar_chart(
        out,
        &BarChart {
            id,
            title,
            desc: "Horizontal bar chart: each group's share of customers next to its share of total value.",
            categories: names,
            series: &[
                ("customer share", BLUE, customer_share),
                ("value share", AMBER, value_share),
            ],
            percent: true,
        },
    );
}

/// Viridis, 0 → 1.
const RAMP: [(f64, [u8; 3]); 5] = [
    (0.0, [0x44, 0x01, 0x54]),
    (0.25, [0x3b, 0x52, 0x8b]),
    (0.5, [0x21, 0x91, 0x8c]),
    (0.75, [0x5e, 0xc9, 0x62]),
    (1.0, [0xfd, 0xe7, 0x25]),
];

fn ramp(v: f64) -> String {
    let v = finite(v).clamp(0.0, 1.0);
    let mut rgb = RAMP[RAMP.len() - 1].1;
    for pair in RAMP.windows(2) {
        let ((a, ca), (b, cb)) = (pair[0], pair[1]);
        if v <= b {
            let t = if b > a { (v - a) / (b - a) } else { 0.0 };
            for i in 0..3 {
                rgb[i] =
                    (f64::from(ca[i]) + t * (f64::from(cb[i]) - f64::from(ca[i]))).round() as u8;
            }
            break;
        }
    }
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

/// P(alive) cells: rows = frequency (0 at the bottom), columns = recency.
pub(super) fn heatmap(out: &mut String, recency: &[f64], cells: &[Vec<Option<f64>>], unit: &str) {
    let rows = cells.len().max(1);
    let cols = recency.len().max(1);
    let cell_w = (440.0 / cols as f64).clamp(4.0, 40.0);
    let cell_h = (360.0 / rows as f64).clamp(4.0, 24.0);
    let f = Frame {
        width: 64.0 + cell_w * cols as f64 + 110.0,
        height: 44.0 + cell_h * rows as f64 + 48.0,
        left: 64.0,
        right: 110.0,
        top: 44.0,
        bottom: 48.0,
        x: (0.0, cols as f64),
        y: (0.0, rows as f64),
    };
    let title = "P(alive) by repeat purchases and recency";
    let desc = format!(
        "Heatmap: rows are repeat purchases (0 at the bottom), columns the time from the first to the last purchase in {unit}s; colour is the probability the customer is still active."
    );
    svg_open(out, "p-alive-matrix", title, &desc, f.width, f.height);
    chart_title(out, &f, title);
    for (x, row) in cells.iter().enumerate() {
        let y = f.py(x as f64 + 1.0);
        for (j, cell) in row.iter().enumerate() {
            let px = f.px(j as f64);
            let fill = cell.map_or_else(|| "#f3f4f6".to_owned(), ramp);
            let tip = match cell {
                Some(p) => format!(
                    "{x} repeat purchases, last at {} {unit}s: P(alive) {}",
                    fmt_sig(recency[j], 3),
                    fmt_fixed(*p, 3)
                ),
                None => format!(
                    "{x} repeat purchases cannot have recency {}",
                    fmt_sig(recency[j], 3)
                ),
            };
            w(
                out,
                format_args!(
                    "<rect x=\"{px:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" shape-rendering=\"crispEdges\"><title>{}</title></rect>\n",
                    cell_w + 0.3,
                    cell_h + 0.3,
                    esc(&tip)
                ),
            );
        }
    }
    // Frequency labels every few rows, recency labels every few columns.
    let row_step = (rows as f64 / 10.0).ceil().max(1.0) as usize;
    for x in (0..rows).step_by(row_step) {
        text(
            out,
            f.plot_left() - 6.0,
            f.py(x as f64 + 0.5) + 4.0,
            "end",
            11,
            MUTED,
            &x.to_string(),
        );
    }
    let col_step = (cols as f64 / 6.0).ceil().max(1.0) as usize;
    for j in (0..cols).step_by(col_step) {
        text(
            out,
            f.px(j as f64 + 0.5),
            f.plot_bottom() + 16.0,
            "middle",
            11,
            MUTED,
            &fmt_sig(recency[j], 3),
        );
    }
    // Colour scale.
    let lx = f.plot_right() + 24.0;
    let (top, bottom) = (f.plot_top(), f.plot_bottom());
    out.push_str("<defs><linearGradient id=\"p-alive-ramp\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
    for (stop, _) in RAMP {
        w(
            out,
            format_args!("<stop offset=\"{stop}\" stop-color=\"{}\"/>", ramp(stop)),
        );
    }
    out.push_str("</linearGradient></defs>\n");
    w(
        out,
        format_args!(
            "<rect x=\"{lx:.1}\" y=\"{top:.1}\" width=\"16\" height=\"{:.1}\" fill=\"url(#p-alive-ramp)\" stroke=\"{GRID}\"/>\n",
            bottom - top
        ),
    );
    for v in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let y = bottom - v * (bottom - top);
        text(
            out,
            lx + 22.0,
            y + 4.0,
            "start",
            11,
            MUTED,
            &fmt_fixed(v, 2),
        );
    }
    axis_titles(
        out,
        &f,
        &format!("recency: time of the last purchase ({unit}s after the first)"),
        "repeat purchases",
    );
    svg_close(out);
}

/// Share of value held by the top x% of customers.
pub(super) fn lorenz_chart(out: &mut String, c: &pb::Concentration, measure: &str) {
    let f = Frame {
        width: 520.0,
        height: 360.0,
        left: 64.0,
        right: 20.0,
        top: 44.0,
        bottom: 44.0,
        x: (0.0, 1.0),
        y: (0.0, 1.0),
    };
    let title = format!("Share of total {measure} held by the most valuable customers");
    let desc = "Concentration curve: the share of total value held by the top x% of customers, against the diagonal of equal value.";
    svg_open(out, "concentration-curve", &title, desc, f.width, f.height);
    chart_title(out, &f, &title);
    let ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
    y_axis(out, &f, &ticks, &fmt_pct);
    for t in ticks {
        text(
            out,
            f.px(t),
            f.plot_bottom() + 16.0,
            "middle",
            11,
            MUTED,
            &fmt_pct(t),
        );
    }
    w(
        out,
        format_args!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{MUTED}\" stroke-dasharray=\"4 4\"/>\n",
            f.px(0.0),
            f.py(0.0),
            f.px(1.0),
            f.py(1.0)
        ),
    );
    // The 101-point curve, or the top shares when the curve is missing.
    let mut points: Vec<(f64, f64)> = if c.curve.len() >= 2 {
        let n = (c.curve.len() - 1) as f64;
        c.curve
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64 / n, v))
            .collect()
    } else {
        std::iter::once((0.0, 0.0))
            .chain(c.top_shares.iter().map(|t| (t.top_fraction, t.value_share)))
            .collect()
    };
    points.retain(|(x, y)| x.is_finite() && y.is_finite());
    let line: Vec<String> = points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", f.px(x), f.py(y.clamp(0.0, 1.0))))
        .collect();
    w(
        out,
        format_args!(
            "<polygon fill=\"{PURPLE}\" fill-opacity=\"0.15\" stroke=\"none\" points=\"{:.1},{:.1} {} {:.1},{:.1}\"/>\n\
             <polyline fill=\"none\" stroke=\"{PURPLE}\" stroke-width=\"2.5\" points=\"{}\"/>\n",
            f.px(0.0),
            f.py(0.0),
            line.join(" "),
            f.px(points.last().map_or(1.0, |p| p.0)),
            f.py(0.0),
            line.join(" ")
        ),
    );
    for t in c.top_shares.iter().filter(|t| t.top_fraction < 0.999) {
        let (x, y) = (f.px(t.top_fraction), f.py(t.value_share.clamp(0.0, 1.0)));
        w(
            out,
            format_args!(
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{PURPLE}\"><title>top {}: {}</title></circle>\n",
                fmt_pct(t.top_fraction),
                fmt_pct(t.value_share)
            ),
        );
        if t.top_fraction >= 0.05 {
            text(
                out,
                x + 6.0,
                y + 14.0,
                "start",
                10,
                INK,
                &format!(
                    "top {}: {}",
                    fmt_pct(t.top_fraction),
                    fmt_pct(t.value_share)
                ),
            );
        }
    }
    frame_lines(out, &f);
    axis_titles(
        out,
        &f,
        "most valuable customers (share of all)",
        "share of total value",
    );
    svg_close(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_max(4166.0), 5000.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(ramp(0.0), "#440154");
        assert_eq!(ramp(1.0), "#fde725");
        assert_eq!(ramp(f64::NAN), "#440154");
    }
}
