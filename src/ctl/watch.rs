//! `ctl watch [EVENTS…]`: subscribes on the control socket and prints one line per event
//! as it happens (`--json`: the notification's `params`, one JSON object a line), until
//! the daemon goes away (exit 0) or the user interrupts.

use std::io::Write as _;

use super::{Exit, Output, PAPER_HEADER, utc};
use crate::control::protocol::{Event, EventName, Subscribe, SubscribeParams};
use crate::control::{Client, ClientError};

/// The table's header line.
pub const WATCH_HEADER: &str = "TIME                 TYPE       MARKET  SYMBOL      DETAIL";

/// `ctl watch`.
pub(super) async fn watch(
    client: &mut Client,
    out: &Output,
    events: Vec<EventName>,
) -> Result<Exit, ClientError> {
    client
        .call::<Subscribe>(&SubscribeParams { events })
        .await?;
    if !out.json {
        if out.paper {
            println!("{PAPER_HEADER}");
        }
        println!("{WATCH_HEADER}");
    }
    while let Some(event) = client.read_event(None).await? {
        let line = if out.json {
            serde_json::to_string(&event).map_err(|e| ClientError::Protocol(e.to_string()))?
        } else {
            render_event(&event)
        };
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (`| head`) ends the watch.
        if writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(Exit::Success);
        }
    }
    Ok(Exit::Success)
}

/// One event as a table line under [`WATCH_HEADER`].
pub fn render_event(event: &Event) -> String {
    let (time, kind, market, symbol, detail) = match event {
        Event::Beat(b) => (
            utc(b.finished_at),
            "beat",
            String::new(),
            String::new(),
            format!(
                "{} ok {} failed {} klines {}{}",
                b.trigger,
                b.symbols_ok,
                b.symbols_failed,
                b.klines_written,
                b.error
                    .as_deref()
                    .map(|e| format!(" error: {e}"))
                    .unwrap_or_default()
            ),
        ),
        Event::Kline(k) => {
            let last = k.klines.last();
            (
                last.map(|c| utc(c.open_time)).unwrap_or_default(),
                "kline",
                k.market.to_string(),
                k.symbol.to_string(),
                format!(
                    "{} x{} close {}",
                    k.interval,
                    k.klines.len(),
                    last.map(|c| c.close.as_str()).unwrap_or("-")
                ),
            )
        }
        Event::Order(o) => (
            utc(o.updated_at),
            "order",
            o.market.to_string(),
            o.symbol.to_string(),
            format!(
                "{} {} {} {} executed {} ({})",
                o.side.as_str(),
                o.order_type.as_str(),
                o.status.as_str(),
                o.quantity.map(|q| q.to_string()).unwrap_or_default(),
                o.executed_qty,
                o.client_order_id
            ),
        ),
        Event::Execution(x) => (
            utc(x.transaction_time),
            "execution",
            x.market.to_string(),
            x.symbol.clone(),
            format!(
                "{} {} @ {} order {}{}",
                x.execution_type,
                x.last_qty.as_deref().unwrap_or("-"),
                x.last_price.as_deref().unwrap_or("-"),
                x.order_id,
                x.order_status
                    .as_deref()
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default()
            ),
        ),
        Event::Balance(b) => (
            utc(b.balance.update_time),
            "balance",
            b.market.to_string(),
            b.balance.asset.clone(),
            format!("free {} locked {}", b.balance.free, b.balance.locked),
        ),
        Event::Position(p) => (
            utc(p.updated_at),
            "position",
            p.market.to_string(),
            p.symbol.to_string(),
            format!(
                "{} {} entry {} unrealized {}",
                p.position_side, p.quantity, p.entry_price, p.unrealized_pnl
            ),
        ),
        Event::Action(a) => (
            utc(a.time),
            "action",
            a.market.clone().unwrap_or_default(),
            a.symbol.clone().unwrap_or_default(),
            format!(
                "{} by {}: {}",
                a.method,
                a.source,
                match (&a.error_code, &a.error_message) {
                    (_, None) if a.ok => "ok".to_string(),
                    (Some(code), Some(msg)) => format!("{code} {msg}"),
                    (_, msg) => msg.clone().unwrap_or_else(|| "refused".into()),
                }
            ),
        ),
        Event::Lagged(l) => (
            String::new(),
            "lagged",
            String::new(),
            String::new(),
            format!("{} events missed (this watch fell behind)", l.missed),
        ),
    };
    format!("{time:<20} {kind:<10} {market:<7} {symbol:<11} {detail}")
}
