//! The user-data parser over every recorded real payload in `tests/data/user_data/` (the
//! directory is read, so a file added there is covered): each parses to the variant its
//! `e` names, with every field equal to the JSON's, and the raw text kept exactly.
//! Truncated and garbled frames are errors, never panics.

use std::path::PathBuf;

use serde_json::Value;
use tradebeat::domain::UserDataEvent;
use tradebeat::exchange::spot::{Frame, FrameError, parse_frame};

fn recordings() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/user_data");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 30, "recordings missing: {}", files.len());
    files
}

/// The event object of a frame in any of the three shapes, and the subscription id.
fn inner(frame: &Value) -> (&Value, Option<i64>) {
    if let Some(e) = frame.get("event") {
        (e, frame["subscriptionId"].as_i64())
    } else if let Some(d) = frame.get("data") {
        (d, None)
    } else {
        (frame, None)
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// A decimal field equals the JSON's text exactly (scale kept).
fn same_decimal(name: &str, key: &str, parsed: impl ToString, json: &Value) {
    assert_eq!(parsed.to_string(), s(&json[key]), "{name}: `{key}`");
}

#[test]
fn every_recording_parses_to_its_variant_with_the_jsons_values() {
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for (name, text) in recordings() {
        let json: Value = serde_json::from_str(&text).unwrap();
        let (ev, sub) = inner(&json);
        let Ok(Frame::Event(parsed)) = parse_frame(&text) else {
            panic!("{name}: {:?}", parse_frame(&text));
        };
        assert_eq!(parsed.subscription_id, sub, "{name}");
        let event = parsed.event;
        // Raw: the event object's exact text, a slice of the file.
        let raw = event.raw().unwrap();
        assert!(text.contains(raw), "{name}: raw is not the received text");
        assert_eq!(&serde_json::from_str::<Value>(raw).unwrap(), ev, "{name}");
        assert_eq!(event.event_type(), s(&ev["e"]), "{name}");
        assert_eq!(event.event_time(), ev["E"].as_i64(), "{name}");
        match &event {
            UserDataEvent::ExecutionReport(r) => {
                *seen.entry("executionReport").or_default() += 1;
                assert_eq!(r.symbol.as_str(), s(&ev["s"]), "{name}");
                assert_eq!(r.client_order_id, s(&ev["c"]), "{name}");
                assert_eq!(r.side.as_str(), s(&ev["S"]), "{name}");
                assert_eq!(r.order_type.as_str(), s(&ev["o"]), "{name}");
                assert_eq!(r.time_in_force.as_str(), s(&ev["f"]), "{name}");
                for (key, value) in [
                    ("q", r.quantity),
                    ("p", r.price),
                    ("P", r.stop_price),
                    ("l", r.last_qty),
                    ("z", r.cumulative_qty),
                    ("L", r.last_price),
                    ("n", r.commission),
                    ("Z", r.cumulative_quote_qty),
                ] {
                    same_decimal(&name, key, value, ev);
                }
                for (key, value) in [("Y", r.last_quote_qty), ("Q", r.quote_order_qty)] {
                    match value {
                        Some(d) => same_decimal(&name, key, d, ev),
                        None => assert!(ev.get(key).is_none(), "{name}: `{key}`"),
                    }
                }
                assert_eq!(r.order_list_id, ev["g"].as_i64(), "{name}");
                assert_eq!(r.orig_client_order_id, s(&ev["C"]), "{name}");
                assert_eq!(r.execution_type.as_str(), s(&ev["x"]), "{name}");
                assert_eq!(r.order_status.as_str(), s(&ev["X"]), "{name}");
                assert_eq!(r.reject_reason, s(&ev["r"]), "{name}");
                assert_eq!(r.order_id, i(&ev["i"]), "{name}");
                assert_eq!(r.commission_asset.as_deref(), ev["N"].as_str(), "{name}");
                assert_eq!(r.transaction_time, i(&ev["T"]), "{name}");
                assert_eq!(r.trade_id, i(&ev["t"]), "{name}");
                assert_eq!(r.execution_id, ev["I"].as_i64(), "{name}");
                assert_eq!(Some(r.is_maker), ev["m"].as_bool(), "{name}");
                assert_eq!(r.order_creation_time, i(&ev["O"]), "{name}");
                assert_eq!(r.working_time, ev["W"].as_i64(), "{name}");
                // The order's client order id: C when non-empty, else c.
                let c = s(&ev["C"]);
                let want = if c.is_empty() { s(&ev["c"]) } else { c };
                assert_eq!(r.order_client_order_id(), want, "{name}");
                let key = r.event_key();
                if r.trade_id >= 0 {
                    assert_eq!(key, format!("trade:{}", r.trade_id));
                } else if let Some(id) = r.execution_id {
                    assert_eq!(key, format!("exec:{id}"));
                } else {
                    assert!(key.starts_with(&format!("event:{}:", r.order_id)), "{key}");
                }
            }
            UserDataEvent::AccountPosition(a) => {
                *seen.entry("outboundAccountPosition").or_default() += 1;
                assert_eq!(a.last_update_time, i(&ev["u"]), "{name}");
                let b = ev["B"].as_array().unwrap();
                assert_eq!(a.balances.len(), b.len(), "{name}");
                for (parsed, json) in a.balances.iter().zip(b) {
                    assert_eq!(parsed.asset, s(&json["a"]), "{name}");
                    same_decimal(&name, "f", parsed.free, json);
                    same_decimal(&name, "l", parsed.locked, json);
                }
            }
            UserDataEvent::BalanceUpdate(b) => {
                *seen.entry("balanceUpdate").or_default() += 1;
                assert_eq!(b.asset, s(&ev["a"]), "{name}");
                same_decimal(&name, "d", b.delta, ev);
                assert_eq!(b.clear_time, i(&ev["T"]), "{name}");
            }
            UserDataEvent::ListStatus(l) => {
                *seen.entry("listStatus").or_default() += 1;
                assert_eq!(l.symbol.as_str(), s(&ev["s"]), "{name}");
                assert_eq!(l.order_list_id, i(&ev["g"]), "{name}");
                assert_eq!(l.contingency_type, s(&ev["c"]), "{name}");
                assert_eq!(l.list_status_type, s(&ev["l"]), "{name}");
                assert_eq!(l.list_order_status, s(&ev["L"]), "{name}");
                assert_eq!(l.list_reject_reason, s(&ev["r"]), "{name}");
                assert_eq!(l.list_client_order_id, s(&ev["C"]), "{name}");
                assert_eq!(l.transaction_time, i(&ev["T"]), "{name}");
                let o = ev["O"].as_array().unwrap();
                assert_eq!(l.orders.len(), o.len(), "{name}");
                for (parsed, json) in l.orders.iter().zip(o) {
                    assert_eq!(parsed.symbol, s(&json["s"]));
                    assert_eq!(parsed.order_id, i(&json["i"]));
                    assert_eq!(parsed.client_order_id, s(&json["c"]));
                }
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
    // Every kind of recording was seen (the set is fixed by the copied files).
    assert_eq!(seen["executionReport"], 25, "{seen:?}");
    assert_eq!(seen["outboundAccountPosition"], 2, "{seen:?}");
    assert_eq!(seen["balanceUpdate"], 2, "{seen:?}");
    assert_eq!(seen["listStatus"], 1, "{seen:?}");
}

#[test]
fn informative_values_outside_the_documented_enums_are_kept_as_text() {
    let by_name: std::collections::HashMap<_, _> = recordings().into_iter().collect();
    let report = |name: &str| match parse_frame(&by_name[name]) {
        Ok(Frame::Event(e)) => match e.event {
            UserDataEvent::ExecutionReport(r) => r,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let rejected = report("ws_spot_execution_report_rejected.json");
    assert_eq!(rejected.time_in_force.as_str(), "GTX");
    // Not a spot time in force, but futures' post-only one: known since futures trading.
    assert_eq!(
        rejected.time_in_force.known(),
        Some(tradebeat::domain::TimeInForce::Gtx)
    );
    assert_eq!(rejected.reject_reason, "GTX_ORDER_REJECT");
    let calculated = report("ws_spot_execution_report_calculated.json");
    assert_eq!(
        calculated.execution_type,
        tradebeat::domain::ExecutionType::Other("CALCULATED".into())
    );
    let expired = report("ws_spot_execution_report_expired.json");
    assert_eq!(expired.time_in_force.as_str(), "GTD");
}

#[test]
fn truncated_or_garbled_recordings_are_errors_not_panics() {
    for (name, text) in recordings() {
        // Every strict prefix of a recording is invalid JSON.
        let trimmed = text.trim_end();
        for cut in (0..trimmed.len()).filter(|c| trimmed.is_char_boundary(*c)) {
            let result = parse_frame(&trimmed[..cut]);
            assert!(
                matches!(result, Err(FrameError::Json(_))),
                "{name} cut at {cut}: {result:?}"
            );
        }
        // Flipped bytes: any result but a panic; a typed event still carries its raw text.
        let bytes = trimmed.as_bytes();
        for pos in (0..bytes.len()).step_by(7) {
            let mut garbled = bytes.to_vec();
            garbled[pos] = b"x}\"{:,0"[pos % 7];
            if let Ok(text) = std::str::from_utf8(&garbled)
                && let Ok(Frame::Event(e)) = parse_frame(text)
            {
                assert!(
                    e.event.raw().is_some_and(|raw| text.contains(raw)),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn an_unknown_event_type_is_kept_raw() {
    let text = r#"{"subscriptionId":0,"event":{"e":"externalLockUpdate","E":1581557507324,"a":"NEO","d":"10.00000000","T":1581557507268}}"#;
    let Ok(Frame::Event(e)) = parse_frame(text) else {
        panic!()
    };
    assert_eq!(
        e.event,
        UserDataEvent::Unknown {
            event_type: "externalLockUpdate".into(),
            event_time: Some(1581557507324),
            raw: r#"{"e":"externalLockUpdate","E":1581557507324,"a":"NEO","d":"10.00000000","T":1581557507268}"#.into(),
        }
    );
}
