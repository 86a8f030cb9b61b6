//! PNG charts for people, drawn from `metrics.jsonl` next to it: the training curves (loss and
//! learning rate over steps) and line charts of one value per language over steps. The font is
//! embedded (DejaVu Sans), so charts render on machines without system fonts. Each chart is
//! written to a temporary file and renamed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::{Error, Result};

/// One line: its name and (step, value) points.
pub type Series = (String, Vec<(f64, f64)>);

const SIZE: (u32, u32) = (1000, 520);

fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // The embedded font is a valid TrueType file; failing to register it only costs labels.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// The rows of a `metrics.jsonl` (lines that are not JSON objects are skipped).
pub fn read_metrics(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    Ok(text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).collect())
}

/// (step, value) of the rows that have both `step` and `key` (training rows: no `split`).
pub fn training_series(rows: &[serde_json::Value], key: &str) -> Vec<(f64, f64)> {
    rows.iter()
        .filter(|r| r.get("split").is_none())
        .filter_map(|r| Some((r.get("step")?.as_f64()?, r.get(key)?.as_f64()?)))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// `training.png`: training loss (left) and learning rate (right) over steps.
pub fn training_curves(rows: &[serde_json::Value], path: &Path) -> Result<()> {
    let loss = training_series(rows, "loss");
    let lr = training_series(rows, "lr");
    draw(path, |root| {
        let (left, right) = root.split_horizontally(SIZE.0 / 2);
        panel(&left, "training loss", "loss", &[("loss".into(), loss.clone())])?;
        panel(&right, "learning rate", "lr", &[("lr".into(), lr.clone())])
    })
}

/// A line chart of several series (one per language, say).
pub fn line_chart(path: &Path, title: &str, y_label: &str, series: &[Series]) -> Result<()> {
    draw(path, |root| panel(root, title, y_label, series))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn draw(path: &Path, paint: impl Fn(&Area) -> DrawResult) -> Result<()> {
    register_font();
    // The encoder picks the format from the extension: the temporary name keeps `.png`.
    let tmp = path.with_extension("partial.png");
    let result = (|| -> DrawResult {
        let root = BitMapBackend::new(&tmp, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        paint(&root)?;
        root.present()?;
        Ok(())
    })();
    result.map_err(|e| Error::Io { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) })?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })
}

fn panel(area: &Area, title: &str, y_label: &str, series: &[Series]) -> DrawResult {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-9);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, (y_min - pad)..(y_max + pad))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_png_files_with_drawn_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let rows: Vec<serde_json::Value> = (1..=20)
            .map(|s| serde_json::json!({"step": s, "loss": 5.0 / f64::from(s), "lr": 1e-3 * f64::from(s.min(5)) / 5.0}))
            .chain([serde_json::json!({"step": 20, "split": "validation", "lang": "de", "loss": 2.0})])
            .collect();
        let path = tmp.path().join("training.png");
        training_curves(&rows, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert_eq!(training_series(&rows, "loss").len(), 20, "validation rows are not training points");

        let series = vec![("de".to_string(), vec![(1.0, 3.0), (2.0, 2.5)]), ("ja".to_string(), vec![(1.0, 4.0)])];
        let chart = tmp.path().join("validation.png");
        line_chart(&chart, "validation loss", "loss", &series).unwrap();
        // Lines and labels were drawn: far from a blank (all-white) image.
        let blank = tmp.path().join("blank.png");
        line_chart(&blank, "", "", &[]).unwrap();
        assert!(std::fs::metadata(&chart).unwrap().len() > std::fs::metadata(&blank).unwrap().len());
        assert!(!tmp.path().join("validation.partial.png").exists());
    }
}
