//! `tradebeat ctl mark-prices | funding | open-interest`: the futures queries as aligned
//! tables (or `--json`).

use super::{table, utc};
use crate::control::protocol::{
    ContractView, FundingRateView, HistoryView, MarkPriceView, MarketStatusView, OpenInterestView,
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

/// A futures contract spec in one line: type, size (quote asset per contract), delivery
/// and listing dates (UTC).
pub fn describe_contract(c: &ContractView) -> String {
    let mut text = if c.contract_type.is_empty() {
        "contract type not given".to_string()
    } else {
        c.contract_type.clone()
    };
    if let Some(size) = &c.contract_size {
        text.push_str(&format!(", {size} quote per contract"));
    }
    if let Some(d) = c.delivery_date {
        text.push_str(&format!(", delivery {} UTC", utc(d)));
    }
    if let Some(d) = c.onboard_date {
        text.push_str(&format!(", listed {} UTC", utc(d)));
    }
    text
}

/// One history series in `ctl status` and `ctl symbols`: rows, stored range, what the
/// exchange no longer keeps, and a failure with its retry time.
pub fn describe_history(h: &HistoryView) -> String {
    let mut text = format!("{} {}: {} row(s)", h.symbol, h.series, h.rows);
    if let (Some(a), Some(b)) = (h.oldest, h.newest) {
        text.push_str(&format!(", {} to {} UTC", utc(a), utc(b)));
    }
    if let Some([a, b]) = h.not_kept {
        text.push_str(&format!(
            ", not kept by the exchange {} to {} UTC",
            utc(a),
            utc(b)
        ));
    }
    if let Some(e) = &h.last_error {
        text.push_str(&format!("; failed: {e}"));
        if let Some(t) = h.retry_at {
            text.push_str(&format!(" (retry at {} UTC)", utc(t)));
        }
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

    #[test]
    fn contract_and_history_lines_name_what_is_stored() {
        let c = ContractView {
            contract_type: "CURRENT_QUARTER".into(),
            contract_size: Some("100".into()),
            delivery_date: Some(1_795_262_400_000),
            onboard_date: None,
        };
        assert_eq!(
            describe_contract(&c),
            "CURRENT_QUARTER, 100 quote per contract, delivery 2026-11-21 12:00:00 UTC"
        );
        let h = HistoryView {
            symbol: "BTCUSD_PERP".parse().unwrap(),
            series: "open_interest_5m".into(),
            rows: 2,
            oldest: Some(1_795_262_400_000),
            newest: Some(1_795_262_700_000),
            not_kept: Some([0, 1_795_262_399_999]),
            last_error: Some("HTTP 503".into()),
            retry_at: Some(1_795_262_460_000),
        };
        let text = describe_history(&h);
        for want in [
            "BTCUSD_PERP open_interest_5m: 2 row(s), 2026-11-21 12:00:00 to 2026-11-21 12:05:00 UTC",
            "not kept by the exchange 1970-01-01 00:00:00 to 2026-11-21 11:59:59 UTC",
            "failed: HTTP 503 (retry at 2026-11-21 12:01:00 UTC)",
        ] {
            assert!(text.contains(want), "{want:?} in {text}");
        }
    }
}
