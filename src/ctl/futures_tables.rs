//! `tradebeat ctl mark-prices | funding | open-interest`: the futures queries as aligned
//! tables (or `--json`).

use super::{table, utc};
use crate::control::protocol::{
    FundingRateView, MarkPriceView, MarketStatusView, OpenInterestView,
};
use crate::domain::{Market, Symbol};

fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_string()
}

/// The `mark_price.list` table.
pub fn render_mark_prices(rows: &[MarkPriceView], symbol: &Symbol, market: Market) -> String {
    if rows.is_empty() {
        return format!("no stored mark prices of {symbol} ({market}) in that range\n");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|m| {
            vec![
                utc(m.time),
                m.mark_price.clone(),
                m.index_price.clone(),
                or_dash(m.estimated_settle_price.as_deref()),
                or_dash(m.funding_rate.as_deref()),
                m.next_funding_time.map_or_else(|| "-".to_string(), utc),
            ]
        })
        .collect();
    table(
        &[
            "BEAT (UTC)",
            "MARK",
            "INDEX",
            "EST. SETTLE",
            "FUNDING RATE",
            "NEXT FUNDING (UTC)",
        ],
        &cells,
        &[false, true, true, true, true, false],
    )
}

/// The `funding_rate.list` table.
pub fn render_funding(rows: &[FundingRateView], symbol: &Symbol, market: Market) -> String {
    if rows.is_empty() {
        return format!("no stored funding events of {symbol} ({market}) in that range\n");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|f| {
            vec![
                utc(f.funding_time),
                f.funding_rate.clone(),
                or_dash(f.mark_price.as_deref()),
            ]
        })
        .collect();
    table(
        &["FUNDING TIME (UTC)", "RATE", "MARK"],
        &cells,
        &[false, true, true],
    )
}

/// The `open_interest.list` table; the unit follows the market.
pub fn render_open_interest(rows: &[OpenInterestView], symbol: &Symbol, market: Market) -> String {
    if rows.is_empty() {
        return format!("no stored open interest of {symbol} ({market}) in that range\n");
    }
    let unit = match market {
        Market::CoinM => "OPEN INTEREST (CONTRACTS)",
        _ => "OPEN INTEREST (BASE)",
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|o| {
            vec![
                utc(o.time),
                o.period.clone(),
                o.open_interest.clone(),
                or_dash(o.open_interest_value.as_deref()),
            ]
        })
        .collect();
    table(
        &["TIME (UTC)", "PERIOD", unit, "VALUE"],
        &cells,
        &[false, false, true, true],
    )
}

/// A futures market's line of `ctl status`: symbols, its own weight budget and clock
/// offset, and the last beat's error.
pub fn describe_market(m: &MarketStatusView) -> String {
    if m.symbols.registered == 0 {
        return "no symbols".to_string();
    }
    let mut text = format!(
        "{} followed, {} active, {} registered; weight {} of {} per minute; clock offset {:+} ms",
        m.symbols.following,
        m.symbols.active,
        m.symbols.registered,
        m.request_weight.used,
        m.request_weight.limit,
        m.clock_offset_ms
    );
    if let Some(e) = &m.last_error {
        text.push_str("; last error: ");
        text.push_str(e);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_name_the_unit() {
        let symbol: Symbol = "BTCUSD_PERP".parse().unwrap();
        let rows = vec![
            OpenInterestView {
                period: "beat".into(),
                time: 1_795_262_400_000,
                open_interest: "15004".into(),
                open_interest_value: None,
            },
            OpenInterestView {
                period: "beat".into(),
                time: 1_795_262_460_000,
                open_interest: "150040".into(),
                open_interest_value: None,
            },
        ];
        let text = render_open_interest(&rows, &symbol, Market::CoinM);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("OPEN INTEREST (CONTRACTS)"), "{text}");
        // Right-aligned numbers end in the same column.
        let end = |line: &str, needle: &str| line.find(needle).unwrap() + needle.len();
        assert_eq!(end(lines[1], "15004"), end(lines[2], "150040"), "{text}");
        assert!(render_mark_prices(&[], &symbol, Market::CoinM).contains("no stored mark prices"));
        let funding = vec![FundingRateView {
            funding_time: 1_795_262_400_000,
            funding_rate: "-0.0001".into(),
            mark_price: None,
        }];
        assert!(render_funding(&funding, &symbol, Market::UsdM).contains("-0.0001"));
    }
}
