//! The study's speedup figure: `S_p` against worker count `p`, one line per
//! backend, with the dashed ideal `S_p = p` for reference.
//!
//! Why the embedded font: plotters' usual text path (`ttf` feature) goes
//! through font-kit, which links fontconfig/freetype and needs system fonts.
//! The benchmark must run on a bare machine, so plotters is built with the
//! pure-Rust `ab_glyph` renderer and DejaVu Sans (Bitstream Vera + Arev
//! licence, see `assets/DejaVuSans-LICENSE.txt`) is compiled into the binary.
//! The SVG backend only needs the font to measure text for layout; the PNG
//! backend also rasterises with it.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::table::Row;

/// DejaVu Sans 2.37, unmodified. Path is relative to this file, which is the
/// same in the scratch crate and in `medimpute` (`src/bench/plot.rs`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Figure size in pixels (SVG user units for the SVG backend).
const SIZE: (u32, u32) = (900, 600);

/// Marker radius in pixels.
const MARKER: u32 = 5;

/// Okabe–Ito colour-blind-safe palette; backends take colours in order of
/// first appearance so the same input always yields the same figure.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    // Okabe–Ito yellow and black swapped for darker hues: yellow vanishes on
    // white, and black is used for the legend's hollow-marker key.
    RGBColor(136, 34, 85),
    RGBColor(51, 34, 136),
];

/// Registers the embedded font as plotters' `sans-serif` family exactly once
/// per process (the registry is global); later calls reuse the outcome.
fn ensure_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font("sans-serif", FontStyle::Normal, FONT)
                .map_err(|_| "embedded DejaVu Sans could not be parsed".to_string())
        })
        .clone()
}

/// One backend's plottable points: `(p, S_p, oversubscribed)`, sorted by `p`.
struct Series<'a> {
    backend: &'a str,
    points: Vec<(u32, f64, bool)>,
}

/// Groups rows by backend in first-appearance order, dropping rows whose
/// speedup is not finite (no runs or no baseline): they have no position.
fn series(rows: &[Row]) -> Vec<Series<'_>> {
    let mut out: Vec<Series<'_>> = Vec::new();
    for r in rows.iter().filter(|r| r.speedup.is_finite()) {
        let p = u32::try_from(r.workers).unwrap_or(u32::MAX);
        let point = (p, r.speedup, r.oversubscribed);
        match out.iter_mut().find(|s| s.backend == r.backend) {
            Some(s) => s.points.push(point),
            None => out.push(Series { backend: &r.backend, points: vec![point] }),
        }
    }
    for s in &mut out {
        s.points.sort_by_key(|&(p, _, _)| p);
    }
    out
}

/// Draws the figure on any plotters backend; shared by SVG and PNG so both
/// outputs are the same chart.
fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    rows: &[Row],
    title: &str,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    ensure_font()?;
    let all = series(rows);
    if all.is_empty() {
        return Err("no row has a finite speedup; nothing to plot".to_string());
    }
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();

    let max_p = all.iter().flat_map(|s| &s.points).map(|pt| pt.0).max().unwrap_or(1).max(1);
    let max_s = all.iter().flat_map(|s| &s.points).map(|pt| pt.1).fold(0.0_f64, f64::max);
    // Room for the ideal line and for the largest observed speedup, plus headroom.
    let y_top = (max_s.max(f64::from(max_p)) * 1.08).max(1.0);
    let x_top = max_p + max_p.div_ceil(20).max(1);

    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0u32..x_top, 0.0..y_top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("workers p")
        .y_desc("speedup S_p = T_1 / T_p")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;

    let grey = RGBColor(110, 110, 110);
    chart
        .draw_series(DashedLineSeries::new(
            [(1u32, 1.0), (max_p, f64::from(max_p))],
            8,
            5,
            grey.stroke_width(2),
        ))
        .map_err(err)?
        .label("ideal S_p = p")
        .legend(move |(x, y)| {
            DashedPathElement::new([(x, y), (x + 20, y)], 5, 3, grey.stroke_width(2))
        });

    let mut any_over = false;
    for (i, s) in all.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                s.points.iter().map(|&(p, sp, _)| (p, sp)),
                colour.stroke_width(2),
            ))
            .map_err(err)?
            .label(s.backend)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        // Oversubscribed points (p > cores) are hollow: their times measure
        // the OS scheduler as much as the backend.
        chart
            .draw_series(s.points.iter().map(|&(p, sp, over)| {
                any_over |= over;
                let style = if over { colour.stroke_width(2) } else { colour.filled() };
                Circle::new((p, sp), MARKER, style)
            }))
            .map_err(err)?;
    }
    if any_over {
        // Legend-only entry explaining the hollow markers.
        chart
            .draw_series(std::iter::empty::<Circle<(u32, f64), u32>>())
            .map_err(err)?
            .label("hollow: oversubscribed (p > cores)")
            .legend(|(x, y)| Circle::new((x + 10, y), MARKER, BLACK.stroke_width(2)));
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Renders the speedup figure as an SVG document string.
///
/// Rows with a non-finite speedup are skipped; if none remain this is an
/// error rather than an empty chart. The SVG has one `<circle>` per plotted
/// point, plus one in the legend when any point is oversubscribed.
pub fn speedup_svg(rows: &[Row], title: &str) -> Result<String, String> {
    let mut svg = String::new();
    {
        // The backend writes into `svg` when dropped/presented, so it must go
        // out of scope before the string is returned.
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(root, rows, title)?;
    }
    Ok(svg)
}

/// Renders the same figure as a PNG file at `path` (format chosen from the
/// extension by plotters' encoder, so use `.png`). The parent directory must
/// exist.
pub fn speedup_png(rows: &[Row], title: &str, path: &Path) -> Result<(), String> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw(root, rows, title)
}

#[cfg(test)]
mod tests {
    use super::super::table::{table, Measurement};
    use super::*;

    fn m(backend: &str, family: &str, workers: usize, runs: &[f64], over: bool) -> Measurement {
        Measurement {
            backend: backend.into(),
            family: family.into(),
            workers,
            runs_s: runs.to_vec(),
            oversubscribed: over,
        }
    }

    /// Whether a `<text>` element's content is exactly `s` (plotters-svg puts
    /// the content on its own line).
    fn has_text(svg: &str, s: &str) -> bool {
        svg.contains(&format!(">\n{s}\n</text>")) || svg.contains(&format!(">{s}</text>"))
    }

    fn sample_rows() -> Vec<Row> {
        table(&[
            m("serial", "rust", 1, &[8.0, 8.2], false),
            m("threads", "rust", 2, &[4.1, 4.0], false),
            m("threads", "rust", 4, &[2.2, 2.1], false),
            m("threads", "rust", 8, &[1.4, 1.5], true),
            m("shm", "rust", 2, &[4.3], false),
            m("shm", "rust", 4, &[2.4], false),
            m("python-serial", "python", 1, &[30.0], false),
            m("python-processes", "python", 4, &[9.0], false),
            m("pipe", "rust", 4, &[], false), // no runs: not plotted
        ])
    }

    #[test]
    fn svg_has_every_backend_and_one_marker_per_point() {
        let rows = sample_rows();
        let svg = speedup_svg(&rows, "Speedup").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for name in ["serial", "threads", "shm", "python-serial", "python-processes"] {
            assert!(has_text(&svg, name), "legend misses {name}");
        }
        assert!(
            !has_text(&svg, "pipe"),
            "backend with no finite speedup must not be in the legend"
        );
        let points = rows.iter().filter(|r| r.speedup.is_finite()).count();
        assert_eq!(points, 8);
        // One per point plus the legend's hollow-marker entry.
        assert_eq!(svg.matches("<circle").count(), points + 1);
        // Hollow = unfilled circles: the oversubscribed point and its legend entry.
        let hollow = svg
            .split("<circle")
            .skip(1)
            .filter(|c| c.split('>').next().unwrap_or("").contains("fill=\"none\""))
            .count();
        assert_eq!(hollow, 2);
        assert!(svg.contains("ideal S_p = p"));
        assert!(svg.contains("Speedup"));
    }

    #[test]
    fn svg_without_oversubscription_has_no_hollow_legend() {
        let rows =
            table(&[m("serial", "rust", 1, &[2.0], false), m("threads", "rust", 2, &[1.0], false)]);
        let svg = speedup_svg(&rows, "t").unwrap();
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(!svg.contains("oversubscribed"));
    }

    #[test]
    fn nothing_to_plot_is_an_error() {
        let rows = table(&[m("threads", "rust", 2, &[], false)]);
        assert!(speedup_svg(&rows, "t").is_err());
        assert!(speedup_svg(&[], "t").is_err());
    }

    #[test]
    fn png_is_written_with_magic_bytes() {
        let dir = std::env::temp_dir().join(format!("benchreport-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("speedup.png");
        speedup_png(&sample_rows(), "Speedup", &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(bytes.len() > 10_000, "PNG only {} bytes", bytes.len());
    }
}
