//! SVG charts rendered on the server: no script and no chart library, so
//! the dashboard needs nothing but its own stylesheet. Each chart scales to
//! the width of its container through its `viewBox`; colours come from CSS
//! classes. Every label is escaped, because sender addresses and lure names
//! come from reported messages.

use std::fmt::Write;

use super::view::escape_text;

/// Width of every chart in SVG units: about the width of a dashboard panel
/// at 1280 pixels, so text keeps roughly its CSS size there.
const WIDTH: f64 = 560.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One bar of a stacked bar chart: its label and a count per series.
pub(crate) struct StackedBar {
    pub(crate) label: String,
    pub(crate) counts: Vec<u64>,
}

/// Draws bars stacked by series, such as reports per day by verdict.
/// `series` names each position of `StackedBar::counts`; its CSS class is
/// `series-NAME`.
pub(crate) fn stacked_bars(title: &str, series: &[String], bars: &[StackedBar]) -> String {
    let height = 240.0;
    let plot_height = height - TOP - BOTTOM;
    let max = bars.iter().map(|bar| bar.counts.iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let scale = nice_ceiling(max as f64);
    let slot = (WIDTH - LEFT - RIGHT) / bars.len().max(1) as f64;
    let bar_width = (slot * 0.8).max(1.0);

    let mut svg = open(title, height);
    axis(&mut svg, height, scale, |value| format!("{value:.0}"));
    for (index, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * index as f64 + (slot - bar_width) / 2.0;
        let mut y = TOP + plot_height;
        let total: u64 = bar.counts.iter().sum();
        for (name, count) in series.iter().zip(&bar.counts) {
            if *count == 0 {
                continue;
            }
            let h = plot_height * (*count as f64) / scale;
            y -= h;
            let _ = write!(
                svg,
                "<rect class=\"series-{}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_width:.1}\" height=\"{h:.1}\"><title>{}: {} {}</title></rect>",
                escape_text(name),
                escape_text(&bar.label),
                count,
                escape_text(name)
            );
        }
        if total > 0 && bars.len() <= 31 {
            let _ = write!(
                svg,
                "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{total}</text>",
                x + bar_width / 2.0,
                y - 3.0
            );
        }
        // Label every bar when they fit, else about eight labels.
        let every = (bars.len() / 8).max(1);
        if index % every == 0 {
            let _ = write!(
                svg,
                "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x + bar_width / 2.0,
                height - 8.0,
                escape_text(&bar.label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Draws labelled horizontal bars, each with its count and, when `of` is
/// set, its share of `of`.
pub(crate) fn horizontal_bars(title: &str, items: &[(String, u64)], of: Option<u64>) -> String {
    let row = 26.0;
    let label_width = 190.0;
    let height = TOP + row * items.len().max(1) as f64 + 8.0;
    let max = items.iter().map(|(_, count)| *count).max().unwrap_or(0).max(1);
    let available = WIDTH - label_width - RIGHT - 80.0;

    let mut svg = open(title, height);
    if items.is_empty() {
        let _ = write!(
            svg,
            "<text class=\"label empty\" x=\"{:.1}\" y=\"{:.1}\">no data in this period</text>",
            WIDTH / 2.0,
            TOP + 18.0
        );
    }
    for (index, (label, count)) in items.iter().enumerate() {
        let y = TOP + row * index as f64;
        let length = available * (*count as f64) / (max as f64);
        let shown: String = label.chars().take(24).collect();
        let ellipsis = if label.chars().count() > 24 { "…" } else { "" };
        let _ = write!(
            svg,
            "<text class=\"bar-label\" x=\"{:.1}\" y=\"{:.1}\">{}{ellipsis}<title>{}</title></text>",
            label_width - 8.0,
            y + 17.0,
            escape_text(&shown),
            escape_text(label)
        );
        let _ = write!(
            svg,
            "<rect class=\"bar bar-{index}\" x=\"{label_width:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"></rect>",
            y + 4.0,
            length.max(1.0),
            row - 8.0
        );
        let share =
            of.filter(|total| *total > 0).map(|total| format!(" ({:.0} %)", 100.0 * *count as f64 / total as f64));
        let _ = write!(
            svg,
            "<text class=\"value-left\" x=\"{:.1}\" y=\"{:.1}\">{count}{}</text>",
            label_width + length.max(1.0) + 6.0,
            y + 17.0,
            share.unwrap_or_default()
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One line of a line chart; `None` leaves a gap.
pub(crate) struct Line {
    pub(crate) name: String,
    pub(crate) points: Vec<Option<f64>>,
}

/// Draws lines over shared x labels, such as median durations per day, with
/// the y axis written by `format`.
pub(crate) fn lines(title: &str, labels: &[String], series: &[Line], format: fn(f64) -> String) -> String {
    let height = 240.0;
    let plot_height = height - TOP - BOTTOM;
    let max = series.iter().flat_map(|line| line.points.iter().flatten()).fold(0.0_f64, |a, b| a.max(*b));
    let scale = nice_ceiling(max.max(1.0));
    let step = (WIDTH - LEFT - RIGHT) / labels.len().saturating_sub(1).max(1) as f64;
    let y_of = |value: f64| TOP + plot_height - plot_height * value / scale;

    let mut svg = open(title, height);
    axis(&mut svg, height, scale, format);
    for (index, line) in series.iter().enumerate() {
        let mut path = String::new();
        let mut pen_down = false;
        for (position, point) in line.points.iter().enumerate() {
            let Some(value) = point else {
                pen_down = false;
                continue;
            };
            let (x, y) = (LEFT + step * position as f64, y_of(*value));
            let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_down { "L" } else { "M" });
            pen_down = true;
            let _ = write!(
                svg,
                "<circle class=\"line-{index}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\"><title>{} {}: {}</title></circle>",
                escape_text(&line.name),
                escape_text(labels.get(position).map_or("", String::as_str)),
                escape_text(&format(*value))
            );
        }
        let _ = write!(svg, "<path class=\"line line-{index}\" d=\"{}\"></path>", path.trim_end());
    }
    let every = (labels.len() / 8).max(1);
    for (position, label) in labels.iter().enumerate().filter(|(position, _)| position % every == 0) {
        let _ = write!(
            svg,
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LEFT + step * position as f64,
            height - 8.0,
            escape_text(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn open(title: &str, height: f64) -> String {
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{0}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{0}</title>",
        escape_text(title)
    )
}

/// Draws the y axis from 0 to `scale` with grid lines at round values:
/// fifths of a scale of 1 or 5 times a power of ten, quarters of 2 times.
fn axis(svg: &mut String, height: f64, scale: f64, format: impl Fn(f64) -> String) {
    let plot_height = height - TOP - BOTTOM;
    let leading = scale / 10f64.powf(scale.log10().floor());
    let steps: u32 = if (leading - 2.0).abs() < 1e-9 { 4 } else { 5 };
    for step in 0..=steps {
        let value = scale * f64::from(step) / f64::from(steps);
        let y = TOP + plot_height - plot_height * f64::from(step) / f64::from(steps);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"></line>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape_text(&format(value))
        );
    }
}

/// Rounds up to 1, 2 or 5 times a power of ten, so grid lines fall on round values.
fn nice_ceiling(value: f64) -> f64 {
    let magnitude = 10f64.powf(value.log10().floor());
    for factor in [1.0, 2.0, 5.0, 10.0] {
        if value <= factor * magnitude {
            return factor * magnitude;
        }
    }
    10.0 * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_is_round() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(420.0), 500.0);
    }

    #[test]
    fn grid_lines_on_round_values() {
        let mut svg = String::new();

        axis(&mut svg, 240.0, 50.0, |value| format!("{value:.0}"));

        for tick in [">0<", ">10<", ">20<", ">30<", ">40<", ">50<"] {
            assert!(svg.contains(tick), "{tick} in {svg}");
        }
    }

    #[test]
    fn labels_escaped() {
        let svg = horizontal_bars("Top senders", &[("<script>@lure.test".to_owned(), 3)], None);

        assert!(svg.contains("&lt;script&gt;@lure.test"), "{svg}");
        assert!(!svg.contains("<script>"), "{svg}");
    }

    #[test]
    fn stacked_bars_draw_each_series() {
        let series = vec!["malicious".to_owned(), "benign".to_owned()];
        let bars = vec![StackedBar { label: "12-01".to_owned(), counts: vec![2, 1] }];

        let svg = stacked_bars("Reports", &series, &bars);

        assert!(svg.contains("class=\"series-malicious\""), "{svg}");
        assert!(svg.contains("class=\"series-benign\""), "{svg}");
        assert!(svg.starts_with("<svg"), "{svg}");
    }

    #[test]
    fn gaps_break_lines() {
        let labels = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let line = Line { name: "p50".to_owned(), points: vec![Some(1.0), None, Some(2.0)] };

        let svg = lines("Time", &labels, &[line], |value| format!("{value}"));

        let path = svg.split("d=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default();
        assert_eq!(path.matches('M').count(), 2, "{path}");
        assert!(!path.contains('L'), "{path}");
    }
}
