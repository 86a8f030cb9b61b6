//! PNG charts for people, drawn from `metrics.jsonl` next to it: the training curves (training
//! and validation loss, the learning rate of every step) and line charts of one value per
//! language over steps, each with its legend beside the plot. The font is
//! embedded (DejaVu Sans), so charts render on machines without system fonts. Each chart is
//! written to a temporary file and renamed.

use std::path::Path;
use std::sync::Once;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::{Error, Result, Schedule};

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

/// (step, validation loss) of the evaluation rows: fine-tuning's loss over all rows
/// (`scores.all.loss`), or pretraining's mean over the languages evaluated at a step.
pub fn validation_loss_series(rows: &[serde_json::Value]) -> Vec<(f64, f64)> {
    let mut by_step: std::collections::BTreeMap<u64, (f64, usize)> = Default::default();
    for r in rows.iter().filter(|r| r.get("split").and_then(|s| s.as_str()) == Some("validation")) {
        let Some(step) = r.get("step").and_then(|s| s.as_u64()) else { continue };
        let loss = match r.get("scores") {
            Some(scores) => scores.get("all").and_then(|a| a.get("loss")),
            None => r.get("loss"),
        };
        if let Some(loss) = loss.and_then(|l| l.as_f64()).filter(|l| l.is_finite()) {
            let entry = by_step.entry(step).or_insert((0.0, 0));
            *entry = (entry.0 + loss, entry.1 + 1);
        }
    }
    by_step.into_iter().map(|(step, (sum, n))| (step as f64, sum / n as f64)).collect()
}

/// The learning rate of every step up to the last logged one, from the schedule itself: logged
/// rows alone (every `logging_steps`) can miss a warm-up entirely.
fn schedule_series(schedule: &Schedule, last_step: u64) -> Vec<(f64, f64)> {
    let stride = (last_step / 2000).max(1);
    // Row `s` logs the rate its update used: `lr_at(s - 1)`.
    (1..=last_step).step_by(stride as usize).chain([last_step]).map(|s| (s as f64, schedule.lr_at(s - 1))).collect()
}

/// The learning rate to chart: the schedule's up to the newest row of any kind (an evaluation
/// can come before a step's training row is logged), else the logged rates.
fn lr_series(rows: &[serde_json::Value], schedule: Option<&Schedule>) -> Vec<(f64, f64)> {
    let last_step = rows.iter().filter_map(|r| r.get("step")?.as_u64()).max().unwrap_or(0);
    match schedule {
        Some(schedule) if last_step > 0 => schedule_series(schedule, last_step),
        _ => training_series(rows, "lr"),
    }
}

/// `training.png`: training and validation loss (left), learning rate (right) over steps; with
/// the run's schedule, the rate of every step (warm-up included), else the logged rates.
pub fn training_curves(rows: &[serde_json::Value], schedule: Option<&Schedule>, path: &Path) -> Result<()> {
    let mut losses = vec![("training".to_string(), training_series(rows, "loss"))];
    let validation = validation_loss_series(rows);
    if !validation.is_empty() {
        losses.push(("validation".to_string(), validation));
    }
    let lr = lr_series(rows, schedule);
    draw(path, |root| {
        let (left, right) = root.split_horizontally(SIZE.0 / 2);
        panel(&left, "loss", "loss", &losses, false)?;
        panel(&right, "learning rate", "lr", &[("lr".into(), lr.clone())], true)
    })
}

/// A run's two charts next to its `metrics.jsonl`: `training.png` ([`training_curves`]) and
/// `validation.png`, one line per language of the `(language, value)` pairs `per_language`
/// reads from each validation row.
pub fn write_run_charts(
    run: &Path,
    schedule: &Schedule,
    (title, y_label): (&str, &str),
    per_language: impl Fn(&serde_json::Value) -> Vec<(String, f64)>,
) -> Result<()> {
    let rows = read_metrics(&run.join(crate::run_dir::METRICS_FILE))?;
    training_curves(&rows, Some(schedule), &run.join("training.png"))?;
    let mut series: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for r in rows.iter().filter(|r| r["split"] == "validation") {
        let Some(step) = r["step"].as_f64() else { continue };
        for (lang, value) in per_language(r) {
            series.entry(lang).or_default().push((step, value));
        }
    }
    line_chart(&run.join("validation.png"), title, y_label, &series.into_iter().collect::<Vec<_>>())
}

/// A line chart of several series (one per language, say), the legend beside the plot.
pub fn line_chart(path: &Path, title: &str, y_label: &str, series: &[Series]) -> Result<()> {
    draw(path, |root| panel(root, title, y_label, series, false))
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

/// Tableau's ten categorical colours: distinct on white and for the common colour-vision
/// deficiencies; series past the tenth repeat them dashed, past the twentieth dotted.
const COLOURS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// How series `i` is drawn: its colour, and whether dashed (1) or dotted (2) rather than solid.
fn line_style(i: usize) -> (RGBColor, usize) {
    let (r, g, b) = COLOURS[i % COLOURS.len()];
    (RGBColor(r, g, b), (i / COLOURS.len()) % 3)
}

const LEGEND_ROW: i32 = 17;

fn panel(area: &Area, title: &str, y_label: &str, series: &[Series], from_zero: bool) -> DrawResult {
    // The legend gets a column of its own (two past what one holds), so it never hides a line.
    let rows_fit = ((area.dim_in_pixel().1 as i32 - 60) / LEGEND_ROW).max(1) as usize;
    let columns = if series.len() <= 1 { 0 } else { series.len().div_ceil(rows_fit).min(2) };
    let (plot, legend) = area.split_horizontally(area.dim_in_pixel().0 as i32 - 104 * columns as i32);
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
    if from_zero {
        y_min = y_min.min(0.0);
    }
    // A flat series (one evaluation, say) still gets a readable axis around its value.
    let pad = ((y_max - y_min) * 0.05).max(y_max.abs().max(y_min.abs()) * 0.05).max(1e-9);
    let y_low = if from_zero && y_min >= 0.0 { 0.0 } else { y_min - pad };
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, y_low..(y_max + pad))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (i, (_, points)) in series.iter().enumerate() {
        let (colour, dash) = line_style(i);
        let style = colour.stroke_width(2);
        let points = points.iter().copied();
        match dash {
            0 => chart.draw_series(LineSeries::new(points, style))?,
            1 => chart.draw_series(DashedLineSeries::new(points, 8, 5, style))?,
            _ => chart.draw_series(DashedLineSeries::new(points, 2, 4, style))?,
        };
    }
    for (i, (name, _)) in series.iter().enumerate().filter(|_| columns > 0) {
        let (colour, dash) = line_style(i);
        let x = 4 + 104 * (i / rows_fit) as i32;
        let y = 48 + LEGEND_ROW * (i % rows_fit) as i32;
        let stroke = colour.stroke_width(2);
        let sample = vec![(x, y), (x + 22, y)];
        match dash {
            0 => legend.draw(&PathElement::new(sample, stroke))?,
            1 => legend.draw(&DashedPathElement::new(sample, 6, 3, stroke))?,
            _ => legend.draw(&DashedPathElement::new(sample, 2, 3, stroke))?,
        }
        legend.draw(&Text::new(name.clone(), (x + 27, y - 7), ("sans-serif", 13)))?;
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
        training_curves(&rows, None, &path).unwrap();
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

    #[test]
    fn the_lr_chart_shows_a_warm_up_that_no_logged_row_saw() {
        let schedule =
            Schedule { lr: 1e-3, min_lr: 0.0, warmup_steps: 8, total_steps: 100, decay: crate::Decay::Linear };
        // Logged every 10 steps: the first row is already past the warm-up.
        let lr = schedule_series(&schedule, 30);
        assert_eq!(lr[0], (1.0, 1e-3 / 8.0));
        assert_eq!(
            lr.iter().map(|p| p.0).collect::<Vec<_>>(),
            (1..=30).map(f64::from).chain([30.0]).collect::<Vec<_>>()
        );
        assert!((lr[7].1 - 1e-3).abs() < 1e-15, "step 8 is the first at the peak");
    }

    #[test]
    fn the_lr_chart_reaches_an_evaluation_logged_before_any_training_row() {
        let schedule = Schedule { lr: 1e-3, min_lr: 0.0, warmup_steps: 2, total_steps: 8, decay: crate::Decay::Linear };
        let rows = [serde_json::json!({"step": 8, "split": "validation", "scores": {"all": {"loss": 2.8}}})];
        assert_eq!(lr_series(&rows, Some(&schedule)).last().map(|p| p.0), Some(8.0));
        assert!(lr_series(&rows, None).is_empty());
    }

    #[test]
    fn validation_loss_is_read_from_both_stages_rows() {
        let rows = vec![
            serde_json::json!({"step": 10, "split": "validation", "lang": "de", "loss": 2.0}),
            serde_json::json!({"step": 10, "split": "validation", "lang": "fi", "loss": 4.0}),
            serde_json::json!({"step": 20, "split": "validation", "scores": {"all": {"loss": 0.5}, "de": {"loss": 0.1}}}),
            serde_json::json!({"step": 20, "loss": 9.0}),
        ];
        assert_eq!(validation_loss_series(&rows), [(10.0, 3.0), (20.0, 0.5)]);
    }

    #[test]
    fn thirty_languages_get_thirty_different_lines() {
        let styles: std::collections::BTreeSet<_> = (0..30)
            .map(|i| {
                let (c, d) = line_style(i);
                (c.0, c.1, c.2, d)
            })
            .collect();
        assert_eq!(styles.len(), 30);
    }
}
