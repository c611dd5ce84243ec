//! `cargo xtask plot <csv> <out.svg> [--title TEXT]`: time against M, one panel per problem.
//!
//! The CSV is what the benches write (`crates/nvfp4-cuda/benches/common/report.rs`): a header
//! naming at least `shape,mode,m,impl,time_us`, in any order (other columns are ignored), then
//! one row per measurement. Fields may be quoted as in RFC 4180 (`"N=7168,K=2048"`).
//!
//! The SVG has one panel per (shape, mode), in the order they first appear, in a grid of up to
//! three columns. In each panel, x is M on a log2 axis with a tick at every M measured, y is the
//! time in µs on a log10 axis with labelled decades, and each impl is one line with markers, in
//! the same colour and marker in every panel, named in one legend under the title. Impls whose
//! name starts with `roofline` are dashed. A later row with the same shape, mode, impl and M
//! replaces an earlier one (a re-run appended to the file wins). Written with `std` alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::Result;

/// The columns the plot reads.
const COLUMNS: [&str; 5] = ["shape", "mode", "m", "impl", "time_us"];

/// Panel size and the plot area's margins inside it, in px.
const PANEL_W: f64 = 360.0;
const PANEL_H: f64 = 260.0;
const MARGIN_L: f64 = 60.0;
const MARGIN_R: f64 = 16.0;
const MARGIN_T: f64 = 28.0;
const MARGIN_B: f64 = 44.0;
/// Space around the grid, and the height of the title and of one legend row.
const PAD: f64 = 12.0;
const TITLE_H: f64 = 34.0;
const LEGEND_ROW_H: f64 = 22.0;

/// Okabe–Ito colours (distinct for colour-blind readers), yellow left out as too pale on white.
const COLOURS: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];
/// Marker shapes, cycled with a period prime to the colours' so pairs repeat late.
const MARKERS: [Marker; 6] = [
    Marker::Circle,
    Marker::Square,
    Marker::TriangleUp,
    Marker::Diamond,
    Marker::TriangleDown,
    Marker::Cross,
];

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut positional = Vec::new();
    let mut title = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--title" => title = Some(it.next().ok_or("--title needs a value")?.clone()),
            s if s.starts_with("--") => return Err(format!("plot: unknown option {s}").into()),
            _ => positional.push(a),
        }
    }
    let [csv, out] = positional[..] else {
        return Err("usage: cargo xtask plot <csv> <out.svg> [--title TEXT]".into());
    };
    let text = std::fs::read_to_string(csv).map_err(|e| format!("{csv}: {e}"))?;
    let rows = parse_csv(&text).map_err(|e| format!("{csv}: {e}"))?;
    if rows.is_empty() {
        return Err(format!("{csv}: no rows to plot").into());
    }
    let title = title.unwrap_or_else(|| {
        let stem = Path::new(csv)
            .file_stem()
            .map_or_else(|| csv.clone(), |s| s.to_string_lossy().into_owned());
        format!("{stem}: time against M")
    });
    let (impls, panels) = group(&rows);
    std::fs::write(out, render(&title, &impls, &panels)).map_err(|e| format!("{out}: {e}"))?;
    println!(
        "wrote {out}: {} panels, {} impls, {} points",
        panels.len(),
        impls.len(),
        panels
            .iter()
            .flat_map(|p| &p.series)
            .map(|(_, pts)| pts.len())
            .sum::<usize>()
    );
    Ok(())
}

/// One measurement.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    shape: String,
    mode: String,
    m: u64,
    imp: String,
    time_us: f64,
}

/// Parses the CSV: the header must name every column of [`COLUMNS`]; blank lines are skipped;
/// `m` must be a positive integer and `time_us` a positive finite number.
fn parse_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or("empty file: no header")?;
    let header = split_line(header).map_err(|e| format!("line 1: {e}"))?;
    let mut col = [0usize; COLUMNS.len()];
    for (slot, name) in col.iter_mut().zip(COLUMNS) {
        *slot = header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| format!("the header has no `{name}` column (wants {COLUMNS:?})"))?;
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let at = |e: String| format!("line {}: {e}", i + 1);
        let fields = split_line(line).map_err(at)?;
        if fields.len() != header.len() {
            return Err(at(format!(
                "{} fields under a {}-column header",
                fields.len(),
                header.len()
            )));
        }
        let field = |c: usize| fields[col[c]].trim();
        let m = field(2)
            .parse::<u64>()
            .ok()
            .filter(|&m| m > 0)
            .ok_or_else(|| at(format!("m = `{}` is not a positive integer", field(2))))?;
        let time_us = field(4)
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite() && *t > 0.0)
            .ok_or_else(|| at(format!("time_us = `{}` is not a positive number", field(4))))?;
        rows.push(Row {
            shape: field(0).to_owned(),
            mode: field(1).to_owned(),
            m,
            imp: field(3).to_owned(),
            time_us,
        });
    }
    Ok(rows)
}

/// Splits one CSV line: fields in double quotes may hold commas, `""` is a quote.
fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        let f = fields.last_mut().ok_or("unreachable: no field")?;
        match (c, quoted) {
            ('"', false) if f.trim().is_empty() => {
                f.clear();
                quoted = true;
            }
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                f.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(String::new()),
            _ => f.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    Ok(fields)
}

/// One panel: a (shape, mode) and its series, each an index into the impls and its points sorted
/// by M.
#[derive(Debug)]
struct Panel {
    shape: String,
    mode: String,
    series: Vec<(usize, Vec<(u64, f64)>)>,
}

impl Panel {
    fn title(&self) -> String {
        if self.mode.is_empty() || self.mode == "-" {
            self.shape.clone()
        } else {
            format!("{} · {}", self.shape, self.mode)
        }
    }

    /// Every M measured in the panel, ascending, once each.
    fn ms(&self) -> Vec<u64> {
        let mut ms: Vec<u64> = self
            .series
            .iter()
            .flat_map(|(_, p)| p)
            .map(|p| p.0)
            .collect();
        ms.sort_unstable();
        ms.dedup();
        ms
    }

    fn times(&self) -> impl Iterator<Item = f64> + '_ {
        self.series.iter().flat_map(|(_, p)| p).map(|p| p.1)
    }
}

/// Groups rows into the impl names (first-appearance order) and panels (likewise); a later row
/// with the same shape, mode, impl and M replaces an earlier one.
fn group(rows: &[Row]) -> (Vec<String>, Vec<Panel>) {
    let mut impls: Vec<String> = Vec::new();
    let mut panels: Vec<Panel> = Vec::new();
    let mut points: Vec<BTreeMap<usize, BTreeMap<u64, f64>>> = Vec::new();
    for r in rows {
        let imp = impls.iter().position(|i| *i == r.imp).unwrap_or_else(|| {
            impls.push(r.imp.clone());
            impls.len() - 1
        });
        let p = panels
            .iter()
            .position(|p| p.shape == r.shape && p.mode == r.mode)
            .unwrap_or_else(|| {
                panels.push(Panel {
                    shape: r.shape.clone(),
                    mode: r.mode.clone(),
                    series: Vec::new(),
                });
                points.push(BTreeMap::new());
                panels.len() - 1
            });
        points[p].entry(imp).or_default().insert(r.m, r.time_us);
    }
    for (panel, pts) in panels.iter_mut().zip(points) {
        panel.series = pts
            .into_iter()
            .map(|(imp, by_m)| (imp, by_m.into_iter().collect()))
            .collect();
    }
    (impls, panels)
}

/// Which of the ascending `ms` get a label at pixel `px(m)`: the last always, then left to right
/// each one whose text keeps 4 px clear of the previous label and of the last one.
fn x_labels(ms: &[u64], px: impl Fn(u64) -> f64) -> Vec<bool> {
    let extent = |m: u64| {
        let half = text_width(&m.to_string(), 11.0) / 2.0;
        (px(m) - half, px(m) + half)
    };
    let Some(&last) = ms.last() else {
        return Vec::new();
    };
    let last_start = extent(last).0;
    let mut prev_end = f64::NEG_INFINITY;
    ms.iter()
        .map(|&m| {
            let (start, end) = extent(m);
            let fits = m == last || (start > prev_end + 4.0 && end + 4.0 < last_start);
            if fits {
                prev_end = end;
            }
            fits
        })
        .collect()
}

/// A logarithmic axis: values in `[base^lo, base^hi]` map linearly in `log_base` onto
/// `[px0, px1]` (`px1 < px0` for a y axis, which grows upwards).
#[derive(Clone, Copy, Debug, PartialEq)]
struct LogAxis {
    base: f64,
    lo: f64,
    hi: f64,
    px0: f64,
    px1: f64,
}

impl LogAxis {
    /// The pixel coordinate of `v > 0`.
    fn px(&self, v: f64) -> f64 {
        let t = (v.log(self.base) - self.lo) / (self.hi - self.lo);
        self.px0 + t * (self.px1 - self.px0)
    }
}

/// The x domain in log2 units for the Ms of a panel: the extreme Ms, padded by 6% of the span
/// (at least 0.25, half a doubling for a single M) so end markers sit inside the frame.
fn x_domain(ms: &[u64]) -> (f64, f64) {
    let lo = ms.iter().copied().min().unwrap_or(1).max(1) as f64;
    let hi = ms.iter().copied().max().unwrap_or(1).max(1) as f64;
    let (lo, hi) = (lo.log2(), hi.log2());
    let pad = if hi > lo {
        ((hi - lo) * 0.06).max(0.25)
    } else {
        0.5
    };
    (lo - pad, hi + pad)
}

/// The decades `(lo, hi)`, `lo < hi`, whose powers of ten enclose `[min, max]` (positive values).
fn decades(min: f64, max: f64) -> (i32, i32) {
    // A hair of slack, so that 1000 counts as 10^3 and not 10^2.9999999.
    let lo = (min.log10() + 1e-9).floor() as i32;
    let hi = (max.log10() - 1e-9).ceil() as i32;
    if hi > lo { (lo, hi) } else { (lo, lo + 1) }
}

/// The y ticks for decades `lo..=hi`: `(value, labelled)`, every `d·10^e` for `d` in 1..=9 up to
/// `10^hi`; the decades are labelled, and 2 and 5 too when the axis spans one decade.
fn y_ticks(lo: i32, hi: i32) -> Vec<(f64, bool)> {
    let one_decade = hi - lo == 1;
    let mut ticks = Vec::new();
    for e in lo..hi {
        for d in 1..=9 {
            ticks.push((
                f64::from(d) * 10f64.powi(e),
                d == 1 || (one_decade && matches!(d, 2 | 5)),
            ));
        }
    }
    ticks.push((10f64.powi(hi), true));
    ticks
}

/// A tick label: plain digits from 0.001 to 999999, else `1e-4`-style.
fn fmt_value(v: f64) -> String {
    if (1.0..1e6).contains(&v) {
        format!("{}", v.round())
    } else if (1e-3..1.0).contains(&v) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_owned()
    } else {
        format!("{v:e}")
    }
}

#[derive(Clone, Copy, Debug)]
enum Marker {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
    Cross,
}

/// The SVG for one marker centred at `(x, y)`.
fn marker(kind: Marker, x: f64, y: f64, colour: &str) -> String {
    let r = 4.0;
    let poly = |pts: &[(f64, f64)]| {
        let pts: Vec<String> = pts
            .iter()
            .map(|(dx, dy)| format!("{:.1},{:.1}", x + dx, y + dy))
            .collect();
        format!(r#"<polygon points="{}" fill="{colour}"/>"#, pts.join(" "))
    };
    match kind {
        Marker::Circle => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{colour}"/>"#),
        Marker::Square => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="{w}" height="{w}" fill="{colour}"/>"#,
            x - r * 0.85,
            y - r * 0.85,
            w = 2.0 * r * 0.85
        ),
        Marker::TriangleUp => poly(&[(0.0, -r * 1.15), (r, r * 0.75), (-r, r * 0.75)]),
        Marker::TriangleDown => poly(&[(0.0, r * 1.15), (r, -r * 0.75), (-r, -r * 0.75)]),
        Marker::Diamond => poly(&[(0.0, -r * 1.2), (r, 0.0), (0.0, r * 1.2), (-r, 0.0)]),
        Marker::Cross => format!(
            r#"<path d="M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}" stroke="{colour}" stroke-width="2.2"/>"#,
            x - r,
            y - r,
            x + r,
            y + r,
            x - r,
            y + r,
            x + r,
            y - r
        ),
    }
}

/// Colour, marker and dash pattern of impl `i` named `name`.
fn style(i: usize, name: &str) -> (&'static str, Marker, &'static str) {
    let dash = if name.starts_with("roofline") {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    };
    (COLOURS[i % COLOURS.len()], MARKERS[i % MARKERS.len()], dash)
}

/// Escapes text for SVG content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A rough width of `s` in px at font size `size` (sans-serif glyphs average under 0.6 em).
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

/// The whole SVG document.
fn render(title: &str, impls: &[String], panels: &[Panel]) -> String {
    let n = panels.len().max(1);
    let cols = match n {
        1..=3 => n,
        4 => 2,
        _ => 3,
    };
    let rows = n.div_ceil(cols);
    let width = cols as f64 * PANEL_W + 2.0 * PAD;

    // The legend: entries flow left to right and wrap.
    let mut legend = String::new();
    let (mut lx, mut ly) = (PAD + 8.0, TITLE_H + LEGEND_ROW_H / 2.0);
    for (i, name) in impls.iter().enumerate() {
        let w = 40.0 + text_width(name, 12.0) + 24.0;
        if lx + w > width - PAD && lx > PAD + 8.0 {
            lx = PAD + 8.0;
            ly += LEGEND_ROW_H;
        }
        let (colour, mk, dash) = style(i, name);
        let _ = write!(
            legend,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"{dash}/>{}<text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
            lx + 32.0,
            marker(mk, lx + 16.0, ly, colour),
            lx + 40.0,
            ly + 4.0,
            esc(name)
        );
        lx += w;
    }
    let grid_top = ly + LEGEND_ROW_H / 2.0 + 4.0;
    let height = grid_top + rows as f64 * PANEL_H + PAD;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="{:.1}" y="24" font-size="16" font-weight="bold" text-anchor="middle">{}</text>
<g>{legend}</g>
"#,
        width / 2.0,
        esc(title)
    );
    for (idx, panel) in panels.iter().enumerate() {
        let x0 = PAD + (idx % cols) as f64 * PANEL_W;
        let y0 = grid_top + (idx / cols) as f64 * PANEL_H;
        render_panel(&mut svg, panel, impls, x0, y0);
    }
    svg.push_str("</svg>\n");
    svg
}

/// One panel with its top-left corner at `(x0, y0)`.
fn render_panel(svg: &mut String, panel: &Panel, impls: &[String], x0: f64, y0: f64) {
    let (left, right) = (x0 + MARGIN_L, x0 + PANEL_W - MARGIN_R);
    let (top, bottom) = (y0 + MARGIN_T, y0 + PANEL_H - MARGIN_B);
    let ms = panel.ms();
    let (xlo, xhi) = x_domain(&ms);
    let x = LogAxis {
        base: 2.0,
        lo: xlo,
        hi: xhi,
        px0: left,
        px1: right,
    };
    let tmin = panel.times().fold(f64::INFINITY, f64::min);
    let tmax = panel.times().fold(0.0, f64::max);
    let (dlo, dhi) = decades(tmin, tmax);
    // 3% of the span beyond the decades, so that markers on a decade clear the frame.
    let pad = 0.03 * f64::from(dhi - dlo);
    let y = LogAxis {
        base: 10.0,
        lo: f64::from(dlo) - pad,
        hi: f64::from(dhi) + pad,
        px0: bottom,
        px1: top,
    };

    let _ = writeln!(
        svg,
        r#"<g><text x="{:.1}" y="{:.1}" font-size="13" font-weight="bold" text-anchor="middle">{}</text>"#,
        (left + right) / 2.0,
        y0 + 18.0,
        esc(&panel.title())
    );
    // Grid and y ticks: decades darker than the 2..9 lines between them.
    for (v, labelled) in y_ticks(dlo, dhi) {
        let py = y.px(v);
        let major = (v.log10() - v.log10().round()).abs() < 1e-9;
        let stroke = if major { "#c8c8c8" } else { "#ececec" };
        let _ = write!(
            svg,
            r##"<line x1="{left:.1}" y1="{py:.1}" x2="{right:.1}" y2="{py:.1}" stroke="{stroke}"/><line x1="{:.1}" y1="{py:.1}" x2="{left:.1}" y2="{py:.1}" stroke="#333"/>"##,
            left - if major { 5.0 } else { 3.0 },
        );
        if labelled {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#,
                left - 7.0,
                py + 4.0,
                fmt_value(v)
            );
        }
    }
    // x ticks at every M; labels where they fit: the last M always, the others left to right
    // where they collide neither with the previous label nor with the last one.
    let label_at = x_labels(&ms, |m| x.px(m as f64));
    for (&m, labelled) in ms.iter().zip(label_at) {
        let px = x.px(m as f64);
        let _ = write!(
            svg,
            r##"<line x1="{px:.1}" y1="{top:.1}" x2="{px:.1}" y2="{bottom:.1}" stroke="#ececec"/><line x1="{px:.1}" y1="{bottom:.1}" x2="{px:.1}" y2="{:.1}" stroke="#333"/>"##,
            bottom + 4.0
        );
        if labelled {
            let _ = write!(
                svg,
                r#"<text x="{px:.1}" y="{:.1}" font-size="11" text-anchor="middle">{m}</text>"#,
                bottom + 16.0
            );
        }
    }
    // Frame and axis titles.
    let _ = write!(
        svg,
        r##"<rect x="{left:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#333"/>
<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">M</text>
<text transform="translate({:.1},{:.1}) rotate(-90)" font-size="12" text-anchor="middle">time (µs)</text>
"##,
        right - left,
        bottom - top,
        (left + right) / 2.0,
        bottom + 34.0,
        x0 + 14.0,
        (top + bottom) / 2.0,
    );
    // The series: a line through the points, then the markers with a tooltip each.
    for (imp, pts) in &panel.series {
        let name = &impls[*imp];
        let (colour, mk, dash) = style(*imp, name);
        let path: Vec<String> = pts
            .iter()
            .map(|&(m, t)| format!("{:.1},{:.1}", x.px(m as f64), y.px(t)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"{dash}/>"#,
            path.join(" ")
        );
        for &(m, t) in pts {
            let _ = write!(
                svg,
                "<g><title>{} M={m}: {t} µs</title>{}</g>",
                esc(name),
                marker(mk, x.px(m as f64), y.px(t), colour)
            );
        }
        svg.push('\n');
    }
    svg.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
shape,mode,m,impl,time_us,note
\"N=7168,K=2048\",static,1,nvfp4,9.5,first
\"N=7168,K=2048\",static,128,nvfp4,12.25,
\"N=7168,K=2048\",static,1,cublas_bf16,21,\"a \"\"quoted\"\" note\"

N=2048,K=7168,-,1,nvfp4,8.0,
";

    fn row(shape: &str, mode: &str, m: u64, imp: &str, t: f64) -> Row {
        Row {
            shape: shape.into(),
            mode: mode.into(),
            m,
            imp: imp.into(),
            time_us: t,
        }
    }

    #[test]
    fn parses_quoted_fields_extra_columns_and_blank_lines() {
        // The last data line has an unquoted comma in its shape: one field too many.
        let err = parse_csv(SAMPLE).unwrap_err();
        assert!(err.starts_with("line 6:"), "{err}");
        let text = SAMPLE.replace("N=2048,K=7168,-", "N=2048;K=7168,-");
        let rows = parse_csv(&text).unwrap();
        assert_eq!(
            rows,
            vec![
                row("N=7168,K=2048", "static", 1, "nvfp4", 9.5),
                row("N=7168,K=2048", "static", 128, "nvfp4", 12.25),
                row("N=7168,K=2048", "static", 1, "cublas_bf16", 21.0),
                row("N=2048;K=7168", "-", 1, "nvfp4", 8.0),
            ]
        );
    }

    #[test]
    fn parses_the_sample_file() {
        // `cargo xtask plot xtask/testdata/plot_sample.csv /tmp/plot.svg` draws it.
        let rows = parse_csv(include_str!("../testdata/plot_sample.csv")).unwrap();
        let (impls, panels) = group(&rows);
        assert_eq!(impls, ["nvfp4", "cublas_bf16", "roofline"]);
        assert_eq!(panels.len(), 4);
        assert!(
            panels
                .iter()
                .all(|p| p.ms().len() == 14 && p.series.len() == 3)
        );
    }

    #[test]
    fn header_order_is_free_and_crlf_is_fine() {
        let rows = parse_csv("time_us,impl,m,mode,shape\r\n3.5,roofline,64,dyn,s\r\n").unwrap();
        assert_eq!(rows, vec![row("s", "dyn", 64, "roofline", 3.5)]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse_csv("").unwrap_err().contains("no header"));
        let e = parse_csv("shape,mode,m,impl\n").unwrap_err();
        assert!(e.contains("`time_us`"), "{e}");
        let e = parse_csv("shape,mode,m,impl,time_us\ns,-,0,a,1\n").unwrap_err();
        assert!(e.starts_with("line 2:") && e.contains("m = `0`"), "{e}");
        let e = parse_csv("shape,mode,m,impl,time_us\ns,-,4,a,-1\n").unwrap_err();
        assert!(e.contains("time_us = `-1`"), "{e}");
        let e = parse_csv("shape,mode,m,impl,time_us\ns,-,4,a,NaN\n").unwrap_err();
        assert!(e.contains("time_us"), "{e}");
        let e = parse_csv("shape,mode,m,impl,time_us\n\"s,-,4,a,1\n").unwrap_err();
        assert!(e.contains("unterminated"), "{e}");
    }

    #[test]
    fn groups_panels_and_impls_in_order_and_later_rows_win() {
        let rows = vec![
            row("a", "-", 8, "nvfp4", 5.0),
            row("b", "-", 8, "cublas", 6.0),
            row("a", "-", 1, "nvfp4", 4.0),
            row("a", "-", 8, "nvfp4", 3.0), // replaces the first row
            row("a", "x", 8, "cublas", 7.0),
        ];
        let (impls, panels) = group(&rows);
        assert_eq!(impls, ["nvfp4", "cublas"]);
        let keys: Vec<_> = panels
            .iter()
            .map(|p| (p.shape.as_str(), p.mode.as_str()))
            .collect();
        assert_eq!(keys, [("a", "-"), ("b", "-"), ("a", "x")]);
        assert_eq!(panels[0].series, vec![(0, vec![(1, 4.0), (8, 3.0)])]);
        assert_eq!(panels[1].series, vec![(1, vec![(8, 6.0)])]);
        assert_eq!(panels[0].title(), "a");
        assert_eq!(panels[2].title(), "a · x");
        assert_eq!(panels[0].ms(), [1, 8]);
    }

    #[test]
    fn log2_axis_spaces_doublings_evenly() {
        let (lo, hi) = x_domain(&[1, 2, 4, 8192]);
        assert!(
            (lo - (0.0 - 13.0 * 0.06)).abs() < 1e-12 && (hi - (13.0 + 13.0 * 0.06)).abs() < 1e-12
        );
        let x = LogAxis {
            base: 2.0,
            lo: 0.0,
            hi: 13.0,
            px0: 100.0,
            px1: 360.0,
        };
        assert!((x.px(1.0) - 100.0).abs() < 1e-9);
        assert!((x.px(8192.0) - 360.0).abs() < 1e-9);
        let step = x.px(2.0) - x.px(1.0);
        assert!((step - 20.0).abs() < 1e-9);
        assert!((x.px(4096.0) - x.px(2048.0) - step).abs() < 1e-9);
        // One M: half a doubling either side.
        assert_eq!(x_domain(&[64]), (5.5, 6.5));
    }

    #[test]
    fn x_labels_keep_the_last_and_skip_collisions() {
        let ms: Vec<u64> = (0..14).map(|e| 1 << e).collect(); // 1 .. 8192
        let px = |m: u64| 100.0 + 20.0 * (m as f64).log2();
        let labels = x_labels(&ms, px);
        let shown: Vec<u64> = ms
            .iter()
            .zip(&labels)
            .filter(|l| *l.1)
            .map(|l| *l.0)
            .collect();
        assert_eq!(shown.last(), Some(&8192));
        assert_eq!(&shown[..4], [1, 2, 4, 8]);
        for pair in shown.windows(2) {
            let gap = px(pair[1]) - px(pair[0]);
            let need = (text_width(&pair[0].to_string(), 11.0)
                + text_width(&pair[1].to_string(), 11.0))
                / 2.0;
            assert!(gap >= need + 4.0, "{pair:?} overlap");
        }
        // Wide spacing labels everything.
        assert!(x_labels(&[1, 64, 4096], px).iter().all(|&l| l));
        assert!(x_labels(&[], px).is_empty());
    }

    #[test]
    fn log10_axis_runs_upwards_over_whole_decades() {
        assert_eq!(decades(3.2, 870.0), (0, 3));
        assert_eq!(decades(10.0, 1000.0), (1, 3));
        assert_eq!(decades(10.0, 10.0), (1, 2));
        assert_eq!(decades(0.5, 0.9), (-1, 0));
        let y = LogAxis {
            base: 10.0,
            lo: 0.0,
            hi: 3.0,
            px0: 200.0,
            px1: 20.0,
        };
        assert!((y.px(1.0) - 200.0).abs() < 1e-9);
        assert!((y.px(1000.0) - 20.0).abs() < 1e-9);
        assert!((y.px(10.0) - 140.0).abs() < 1e-9);
        assert!(y.px(20.0) < y.px(10.0), "larger times are higher up");
    }

    #[test]
    fn y_ticks_label_decades_and_two_five_in_a_single_decade() {
        let t = y_ticks(0, 2);
        assert_eq!(t.len(), 19);
        let labelled: Vec<f64> = t.iter().filter(|t| t.1).map(|t| t.0).collect();
        assert_eq!(labelled, [1.0, 10.0, 100.0]);
        let labelled: Vec<f64> = y_ticks(1, 2).iter().filter(|t| t.1).map(|t| t.0).collect();
        assert_eq!(labelled, [10.0, 20.0, 50.0, 100.0]);
        assert_eq!(fmt_value(1.0), "1");
        assert_eq!(fmt_value(100_000.0), "100000");
        assert_eq!(fmt_value(0.01), "0.01");
        assert_eq!(fmt_value(1e-4), "1e-4");
        assert_eq!(fmt_value(1e7), "1e7");
    }

    #[test]
    fn renders_every_panel_series_and_escapes_text() {
        let rows = vec![
            row("gate&up", "static", 1, "nvfp4", 9.0),
            row("gate&up", "static", 64, "nvfp4", 11.0),
            row("gate&up", "static", 1, "cublas_bf16", 20.0),
            row("down", "-", 1, "roofline", 2.0),
        ];
        let (impls, panels) = group(&rows);
        let svg = render("t<1>", &impls, &panels);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("gate&amp;up · static") && svg.contains("t&lt;1&gt;"));
        assert!(!svg.contains("gate&up"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert_eq!(svg.matches("<title>").count(), 4);
        assert_eq!(
            svg.matches("stroke-dasharray").count(),
            2,
            "roofline: legend and line"
        );
    }
}
