//! Charts drawn on the server as inline SVG: readable without JavaScript, every bar carrying
//! its value as a tooltip (`<title>`) and the whole chart repeated as a table for screen
//! readers. Colours keep at least 3:1 contrast against the white background (WCAG 2.2
//! non-text contrast) and every series is named in a legend, so colour is never the only cue.

use maud::{html, Markup};

/// Series colours, each at least 3:1 against white.
const PALETTE: [&str; 6] = [
    "#1b4f72", "#a93226", "#1e6f3e", "#6c3483", "#7d6608", "#4d5656",
];

const WIDTH: f64 = 640.0;
const PLOT_TOP: f64 = 10.0;
const PLOT_BOTTOM: f64 = 170.0;
const PLOT_LEFT: f64 = 40.0;

/// The colour of series `i`.
fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A stacked bar chart: one bar per `x` label, each split by series.
/// `series` is `(name, one value per x label)`.
pub(crate) fn stacked_bars(
    id: &str,
    title: &str,
    x_labels: &[String],
    series: &[(String, Vec<u64>)],
) -> Markup {
    let totals: Vec<u64> = (0..x_labels.len())
        .map(|i| {
            series
                .iter()
                .map(|(_, v)| v.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let n = x_labels.len().max(1) as f64;
    let slot = (WIDTH - PLOT_LEFT - 10.0) / n;
    let bar = (slot * 0.7).max(2.0);
    let scale = (PLOT_BOTTOM - PLOT_TOP) / max as f64;
    let legend_y = PLOT_BOTTOM + 40.0;
    let height = legend_y + 20.0;
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {height}"))
                role="img" aria-labelledby=(format!("{id}-title")) id=(id) {
                title id=(format!("{id}-title")) { (title) }
                line x1=(PLOT_LEFT) y1=(PLOT_BOTTOM) x2=(WIDTH - 5.0) y2=(PLOT_BOTTOM) stroke="#333" {}
                text x=(PLOT_LEFT - 6.0) y=(PLOT_TOP + 4.0) text-anchor="end" font-size="11" { (max) }
                text x=(PLOT_LEFT - 6.0) y=(PLOT_BOTTOM) text-anchor="end" font-size="11" { "0" }
                @for (i, x) in x_labels.iter().enumerate() {
                    @let cx = PLOT_LEFT + slot * i as f64 + (slot - bar) / 2.0;
                    @let mut y = PLOT_BOTTOM;
                    @for (s, (name, values)) in series.iter().enumerate() {
                        @let v = values.get(i).copied().unwrap_or(0);
                        @if v > 0 {
                            @let h = v as f64 * scale;
                            @let top = { y -= h; y };
                            rect x=(format!("{cx:.1}")) y=(format!("{top:.1}")) width=(format!("{bar:.1}"))
                                height=(format!("{h:.1}")) fill=(colour(s))
                                data-x=(x) data-series=(name) data-count=(v) {
                                title { (x) " " (name) ": " (v) }
                            }
                        }
                    }
                    @if i % ((x_labels.len() / 7).max(1)) == 0 {
                        text x=(format!("{:.1}", cx + bar / 2.0)) y=(PLOT_BOTTOM + 16.0)
                            text-anchor="middle" font-size="11" { (x.get(5..).unwrap_or(x)) }
                    }
                }
                @for (s, (name, _)) in series.iter().enumerate() {
                    @let lx = PLOT_LEFT + 150.0 * s as f64;
                    rect x=(lx) y=(legend_y - 10.0) width="12" height="12" fill=(colour(s)) {}
                    text x=(lx + 16.0) y=(legend_y) font-size="12" { (name) }
                }
            }
            (table(title, "Day", x_labels, series))
        }
    }
}

/// A horizontal bar chart of `(label, value)` rows.
pub(crate) fn hbars(id: &str, title: &str, rows: &[(String, u64)]) -> Markup {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let label_w = 170.0;
    let row_h = 24.0;
    let height = row_h * rows.len() as f64 + 10.0;
    let scale = (WIDTH - label_w - 50.0) / max as f64;
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {height}"))
                role="img" aria-labelledby=(format!("{id}-title")) id=(id) {
                title id=(format!("{id}-title")) { (title) }
                @for (i, (label, v)) in rows.iter().enumerate() {
                    @let y = 5.0 + row_h * i as f64;
                    text x=(label_w - 8.0) y=(y + 15.0) text-anchor="end" font-size="13" { (label) }
                    rect x=(label_w) y=(y + 2.0) width=(format!("{:.1}", *v as f64 * scale))
                        height=(row_h - 6.0) fill=(colour(0)) data-label=(label) data-count=(v) {
                        title { (label) ": " (v) }
                    }
                    text x=(format!("{:.1}", label_w + *v as f64 * scale + 6.0)) y=(y + 15.0)
                        font-size="13" { (v) }
                }
            }
        }
    }
}

/// The chart's data as a table (inside a closed `<details>`, for screen readers and anyone
/// who wants the numbers).
fn table(title: &str, x_name: &str, x_labels: &[String], series: &[(String, Vec<u64>)]) -> Markup {
    html! {
        details {
            summary { "Data: " (title) }
            table {
                thead { tr { th scope="col" { (x_name) } @for (name, _) in series { th scope="col" { (name) } } } }
                tbody {
                    @for (i, x) in x_labels.iter().enumerate() {
                        tr {
                            th scope="row" { (x) }
                            @for (_, values) in series { td { (values.get(i).copied().unwrap_or(0)) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_bars_draw_one_rect_per_nonzero_value_with_escaped_labels() {
        let days = vec!["2026-05-01".to_string(), "2026-05-02".to_string()];
        let series = vec![
            ("misinformation".to_string(), vec![2, 0]),
            ("<impersonation>".to_string(), vec![1, 3]),
        ];
        let svg = stacked_bars("c", "Incidents", &days, &series).into_string();
        assert_eq!(svg.matches("data-count=").count(), 3, "{svg}");
        assert!(
            svg.contains(
                r#"data-x="2026-05-02" data-series="&lt;impersonation&gt;" data-count="3""#
            ),
            "{svg}"
        );
        assert!(!svg.contains("<impersonation>"));
        assert!(svg.contains("<title id=\"c-title\">Incidents</title>"));
        assert!(svg.contains("<table>"), "data table for screen readers");
        // The tallest stack (3) reaches the top of the plot.
        assert!(svg.contains(&format!("y=\"{PLOT_TOP:.1}\"")), "{svg}");
    }

    #[test]
    fn hbars_scale_to_the_largest_value() {
        let svg = hbars(
            "s",
            "By status",
            &[("new".into(), 0), ("escalated".into(), 4)],
        )
        .into_string();
        assert!(
            svg.contains(r#"data-label="escalated" data-count="4""#),
            "{svg}"
        );
        assert!(svg.contains(r#"width="0.0""#), "zero bar: {svg}");
        assert!(
            svg.contains(&format!("width=\"{:.1}\"", WIDTH - 170.0 - 50.0)),
            "{svg}"
        );
    }

    #[test]
    fn empty_charts_render() {
        assert!(stacked_bars("e", "t", &[], &[])
            .into_string()
            .contains("<svg"));
        assert!(hbars("e", "t", &[]).into_string().contains("<svg"));
    }
}
