//! The price chart: the close of every followed symbol on a log-scale axis against UTC
//! time, as one self-contained HTML page (uPlot and the data inline, nothing loaded from
//! anywhere else), served at `GET /chart` and written by `tradebeat ctl chart`.
//!
//! The data come from the control methods `symbol.list` and `kline.list`, called through
//! a [`Caller`]: the HTTP server's dispatcher or `ctl`'s socket client, so both transports
//! draw the same thing. uPlot 1.6.32 (MIT, <https://github.com/leeoniya/uPlot>) is
//! vendored unmodified under `assets/uplot/`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::control::protocol::{ErrorObject, KLINE_LIST_MAX_LIMIT};
use crate::domain::Interval;

const UPLOT_JS: &str = include_str!("../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/uplot/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../assets/uplot/LICENSE");

/// The most days a chart covers.
pub const MAX_DAYS: u32 = 3660;
/// The most points drawn per symbol (older ones are left out).
pub const MAX_POINTS: usize = 100_000;

/// Calls one control method by name with its params (a JSON object) and returns its
/// result.
pub trait Caller {
    /// Runs `method` with `params`.
    fn call(
        &mut self,
        method: &str,
        params: Value,
    ) -> impl Future<Output = Result<Value, ErrorObject>> + Send;
}

/// One symbol's closes: `(open time ms since the epoch UTC, close)`, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub symbol: String,
    pub points: Vec<(i64, f64)>,
}

/// What to draw: the candle interval and how many days back from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartSpec {
    pub interval: Interval,
    pub days: u32,
}

impl ChartSpec {
    /// `interval` (default `1h`) and `days` (default 30, 1..=[`MAX_DAYS`]).
    ///
    /// # Errors
    /// `-32602` naming the bad parameter.
    pub fn new(interval: Option<&str>, days: Option<u32>) -> Result<ChartSpec, ErrorObject> {
        let interval = match interval {
            None => Interval::H1,
            Some(text) => text.parse().map_err(|_| {
                ErrorObject::invalid_param("interval", format_args!("{text:?} is not an interval"))
            })?,
        };
        let days = days.unwrap_or(30);
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(ErrorObject::invalid_param(
                "days",
                format_args!("must be 1..={MAX_DAYS}, not {days}"),
            ));
        }
        Ok(ChartSpec { interval, days })
    }
}

/// The closes of every active, trading symbol since `now_ms - days`, one [`Series`] per
/// symbol that has candles of the interval, in `symbol.list` order.
///
/// # Errors
/// The first error a call answered.
pub async fn collect(
    caller: &mut impl Caller,
    spec: ChartSpec,
    now_ms: i64,
) -> Result<Vec<Series>, ErrorObject> {
    let symbols = caller
        .call("symbol.list", json!({ "active": true }))
        .await?;
    let mut out = Vec::new();
    for entry in symbols.as_array().map(Vec::as_slice).unwrap_or_default() {
        let (Some(symbol), Some(market)) = (entry["symbol"].as_str(), entry["market"].as_str())
        else {
            continue;
        };
        if entry["status"] != "TRADING" {
            continue;
        }
        let mut start = now_ms - i64::from(spec.days) * 86_400_000;
        let mut points: Vec<(i64, f64)> = Vec::new();
        loop {
            let mut params = json!({
                "symbol": symbol,
                "interval": spec.interval.as_str(),
                "start": start,
                "limit": KLINE_LIST_MAX_LIMIT,
            });
            // Spot is the default market; others are named.
            if market != "spot" {
                params["market"] = json!(market);
            }
            let page = caller.call("kline.list", params).await?;
            let candles = page.as_array().map(Vec::as_slice).unwrap_or_default();
            for k in candles {
                if let (Some(t), Some(close)) = (
                    k["open_time"].as_i64(),
                    k["close"].as_str().and_then(|c| c.parse::<f64>().ok()),
                ) && close > 0.0
                {
                    points.push((t, close));
                }
            }
            match candles.last().and_then(|k| k["open_time"].as_i64()) {
                Some(last) if candles.len() as u64 >= u64::from(KLINE_LIST_MAX_LIMIT) => {
                    start = last + 1;
                }
                _ => break,
            }
            if points.len() >= MAX_POINTS {
                break;
            }
        }
        if points.len() > MAX_POINTS {
            points.drain(..points.len() - MAX_POINTS);
        }
        if !points.is_empty() {
            out.push(Series {
                symbol: symbol.to_string(),
                points,
            });
        }
    }
    Ok(out)
}

/// The colours of the lines, in turn.
const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// The page: uPlot, its CSS and the data inline. x is in seconds (UTC); each series has
/// `null` where it has no candle, so a symbol that starts later is drawn from its start.
pub fn html(series: &[Series], spec: ChartSpec) -> String {
    let times: BTreeSet<i64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let xs: Vec<i64> = times.iter().copied().collect();
    let mut data: Vec<Value> = vec![json!(xs.iter().map(|t| t / 1000).collect::<Vec<_>>())];
    for s in series {
        let mut column = vec![Value::Null; xs.len()];
        for (t, close) in &s.points {
            if let Ok(i) = xs.binary_search(t) {
                column[i] = json!(close);
            }
        }
        data.push(Value::Array(column));
    }
    let names: Vec<&str> = series.iter().map(|s| s.symbol.as_str()).collect();
    let payload = json!({
        "names": names,
        "colours": COLOURS,
        "data": data,
        "interval": spec.interval.as_str(),
        "days": spec.days,
    });
    // Inside <script>: no "</" may end the element early.
    let payload = payload.to_string().replace("</", "<\\/");
    let title = format!(
        "tradebeat: closes, {} candles, last {} days (log scale, UTC)",
        spec.interval.as_str(),
        spec.days
    );
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>{UPLOT_CSS}
body {{ font-family: sans-serif; margin: 1em; }}
#tip {{ position: absolute; pointer-events: none; background: #fff; border: 1px solid #888; padding: 2px 6px; font-size: 12px; display: none; z-index: 10; }}
</style></head>
<body>
<h3>{title}</h3>
<div id="chart"></div>
<div id="tip"></div>
<script>
/* uPlot 1.6.32: {license}*/
{UPLOT_JS}
</script>
<script>
const P = {payload};
const tip = document.getElementById("tip");
const fmt = v => v == null ? "-" : String(v);
const series = [{{ label: "time (UTC)", value: (u, t) => t == null ? "-" : new Date(t * 1000).toISOString().replace(".000Z", "Z") }}];
P.names.forEach((name, i) => series.push({{ label: name, stroke: P.colours[i % P.colours.length], width: 1.5, spanGaps: false, value: (u, v) => fmt(v) }}));
const opts = {{
  width: Math.max(600, window.innerWidth - 40), height: Math.max(400, window.innerHeight - 120),
  tzDate: ts => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
  scales: {{ x: {{ time: true }}, y: {{ distr: 3 }} }},
  axes: [{{}}, {{ label: "close (log scale)", size: 80 }}],
  series: series,
  legend: {{ live: true }},
  hooks: {{ setCursor: [u => {{
    const i = u.cursor.idx;
    if (i == null) {{ tip.style.display = "none"; return; }}
    const lines = [];
    for (let s = 1; s < u.series.length; s++) {{ const v = u.data[s][i]; if (v != null) lines.push(u.series[s].label + ": " + v); }}
    if (!lines.length) {{ tip.style.display = "none"; return; }}
    tip.textContent = new Date(u.data[0][i] * 1000).toISOString() + "  " + lines.join("  ");
    tip.style.left = (u.cursor.left + u.over.getBoundingClientRect().left + window.scrollX + 12) + "px";
    tip.style.top = (u.cursor.top + u.over.getBoundingClientRect().top + window.scrollY + 12) + "px";
    tip.style.display = "block";
  }}] }},
}};
const plot = new uPlot(opts, P.data, document.getElementById("chart"));
document.body.dataset.series = String(plot.series.length - 1);
document.body.dataset.yDistr = plot.scales.y.distr === 3 ? "log" : "linear";
document.body.dataset.rendered = "true";
</script>
</body></html>
"#,
        license = UPLOT_LICENSE.replace("*/", "* /"),
    )
}

/// The same chart as a static SVG drawn with plotters: log-scale y, UTC time on x, one
/// polyline per symbol in the page's colours, and a legend.
///
/// # Errors
/// Plotters failed to draw (the message says why).
pub fn svg(series: &[Series], spec: ChartSpec) -> Result<String, String> {
    use plotters::prelude::*;

    let fail = |e: &dyn std::fmt::Display| format!("the svg could not be drawn: {e}");
    let points = || series.iter().flat_map(|s| s.points.iter());
    let t0 = points().map(|p| p.0).min().unwrap_or(0);
    let t1 = points().map(|p| p.0).max().unwrap_or(1).max(t0 + 1);
    let lo = points().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = points().map(|p| p.1).fold(0.0_f64, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo * 0.95, hi * 1.05)
    } else {
        (1.0, 10.0)
    };
    let title = format!(
        "tradebeat: closes, {} candles, last {} days (log scale, UTC)",
        spec.interval.as_str(),
        spec.days
    );
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1200, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(t0..t1, (lo..hi).log_scale())
            .map_err(|e| fail(&e))?;
        let day = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
        let label = |t: &i64| {
            time::OffsetDateTime::from_unix_timestamp(t / 1000)
                .ok()
                .and_then(|d| d.format(day).ok())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&label)
            .x_desc("time (UTC)")
            .y_desc("close (log scale)")
            .draw()
            .map_err(|e| fail(&e))?;
        for (i, s) in series.iter().enumerate() {
            let colour = hex_colour(COLOURS[i % COLOURS.len()]);
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(|e| fail(&e))?
                .label(s.symbol.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 4), (x + 16, y + 4)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(out)
}

/// `"#1f77b4"` → its colour (black for anything else).
fn hex_colour(hex: &str) -> plotters::style::RGBColor {
    let byte = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0)
    };
    plotters::style::RGBColor(byte(1), byte(3), byte(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained_with_one_column_per_symbol() {
        let series = vec![
            Series {
                symbol: "BTCUSDT".into(),
                points: vec![(3_600_000, 65000.5), (7_200_000, 65100.0)],
            },
            Series {
                symbol: "ETHUSDT".into(),
                points: vec![(7_200_000, 3000.25)],
            },
        ];
        let page = html(&series, ChartSpec::new(Some("1h"), Some(30)).unwrap());
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
        assert!(page.contains(r#""names":["BTCUSDT","ETHUSDT"]"#));
        // ETHUSDT starts later: null before its first candle.
        assert!(
            page.contains("[[3600,7200],[65000.5,65100.0],[null,3000.25]]"),
            "{}",
            &page[page.len() - 3000..]
        );
        assert!(page.contains("distr: 3"));
    }

    #[test]
    fn the_svg_has_one_polyline_per_symbol_and_a_legend() {
        let series = vec![
            Series {
                symbol: "BTCUSDT".into(),
                points: vec![
                    (3_600_000, 65000.5),
                    (7_200_000, 65100.0),
                    (10_800_000, 64000.0),
                ],
            },
            Series {
                symbol: "DOGEUSDT".into(),
                points: vec![(7_200_000, 0.125), (10_800_000, 0.13)],
            },
        ];
        let svg = svg(&series, ChartSpec::new(None, None).unwrap()).unwrap();
        assert!(svg.starts_with("<svg"), "{svg:.200}");
        for (symbol, colour) in [("BTCUSDT", "#1F77B4"), ("DOGEUSDT", "#FF7F0E")] {
            let lines = svg
                .lines()
                .filter(|l| l.contains("<polyline") && l.to_uppercase().contains(colour))
                .count();
            assert_eq!(lines, 1, "{symbol}: one line in {colour}\n{svg}");
            assert!(svg.contains(symbol), "{symbol} in the legend:\n{svg}");
        }
        assert!(svg.contains("log scale"));
    }

    #[test]
    fn bad_chart_params_are_refused() {
        assert_eq!(ChartSpec::new(Some("7m"), None).unwrap_err().code, -32602);
        assert_eq!(ChartSpec::new(None, Some(0)).unwrap_err().code, -32602);
        assert_eq!(
            ChartSpec::new(None, None).unwrap(),
            ChartSpec {
                interval: Interval::H1,
                days: 30
            }
        );
    }
}
