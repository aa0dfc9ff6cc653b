//! Parse tests of the futures trading answers on recorded Binance payloads
//! (`tests/data/futures_trading/`, see its SOURCES.md) and the request parameters.

use rust_decimal::Decimal;

use super::*;

fn data(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/futures_trading/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn recorded_order_answer_parses_field_for_field() {
    let o = parse_order(&data("order_response.json")).unwrap();
    assert_eq!(o.symbol.as_str(), "BTCUSDT");
    assert_eq!(o.order_id, 12_345_678);
    assert_eq!(o.client_order_id, "testOrder123");
    assert_eq!(o.status, OrderStatus::New);
    assert_eq!(o.side, Side::Buy);
    assert_eq!(o.order_type, OrderType::Limit);
    assert_eq!(o.time_in_force, Some(TimeInForce::Gtc));
    assert_eq!(o.price.to_string(), "50000.00", "exact text kept");
    assert_eq!(o.orig_qty, dec("0.001"));
    assert_eq!(o.executed_qty, Decimal::ZERO);
    assert_eq!(o.cummulative_quote_qty, Decimal::ZERO);
    assert_eq!(o.stop_price, None, "a zero stop price is none");
    assert_eq!(
        (o.time, o.update_time),
        (Some(1_625_474_304_765), Some(1_625_474_304_765))
    );
    let f = o.futures.as_ref().unwrap();
    assert_eq!(f.position_side, Some(PositionSide::Both));
    assert!(!f.reduce_only && !f.close_position && !f.price_protect);
    assert_eq!(f.working_type, Some(WorkingType::ContractPrice));
    assert_eq!(f.avg_price, None, "nothing filled");
    assert_eq!((f.algo_id, f.triggered_order_id), (None, None));
    assert_eq!(o.exchange_order_id(), Some(12_345_678));
}

#[test]
fn recorded_open_algo_orders_parse_as_one_order_under_the_client_algo_id() {
    let orders = parse_list(&data("open_algo_orders.json"), parse_algo_value).unwrap();
    assert_eq!(orders.len(), 1);
    let o = &orders[0];
    assert_eq!(o.client_order_id, "test-algo-order-1");
    assert_eq!(o.order_type, OrderType::StopMarket);
    assert_eq!(o.symbol.as_str(), "BTCUSDT");
    assert_eq!(o.side, Side::Buy);
    assert_eq!(o.status, OrderStatus::New);
    assert_eq!(o.orig_qty, dec("0.001"));
    assert_eq!(
        o.stop_price,
        Some(dec("45000.00")),
        "triggerPrice is the stop price"
    );
    assert_eq!(o.time_in_force, Some(TimeInForce::Gtc));
    assert_eq!(o.time, Some(1_625_474_304_765));
    let f = o.futures.as_ref().unwrap();
    assert_eq!(f.algo_id, Some(123_456_789));
    assert_eq!(f.triggered_order_id, None);
    assert_eq!(f.working_type, Some(WorkingType::MarkPrice));
    assert_eq!(f.position_side, Some(PositionSide::Both));
    assert_eq!(o.exchange_order_id(), None, "no matching-engine order yet");
}

#[test]
fn a_triggered_algo_order_takes_the_state_of_the_order_it_became() {
    let algo = parse_algo_order(
        br#"{"algoId":7,"clientAlgoId":"tb-x","algoType":"CONDITIONAL","orderType":"TRAILING_STOP_MARKET",
             "symbol":"BTCUSDT","side":"SELL","positionSide":"BOTH","timeInForce":"GTC","quantity":"0.010",
             "algoStatus":"TRIGGERED","triggerPrice":"","price":"0","workingType":"CONTRACT_PRICE",
             "closePosition":false,"priceProtect":false,"reduceOnly":true,"activatePrice":"51000",
             "callbackRate":"1.5","createTime":1,"updateTime":2,"triggerTime":3,"actualOrderId":"900"}"#,
    )
    .unwrap();
    let f = algo.futures.as_ref().unwrap();
    assert_eq!((f.algo_id, f.triggered_order_id), (Some(7), Some(900)));
    assert_eq!(f.callback_rate, Some(dec("1.5")));
    assert_eq!(f.activation_price, Some(dec("51000")));
    assert!(f.reduce_only);
    let mut actual = parse_order(&data("order_response.json")).unwrap();
    actual.order_id = 900;
    actual.status = OrderStatus::Filled;
    actual.executed_qty = dec("0.010");
    actual.update_time = Some(9);
    let merged = merge_algo(algo, actual);
    assert_eq!(merged.client_order_id, "tb-x");
    assert_eq!(merged.order_type, OrderType::TrailingStopMarket);
    assert_eq!((merged.order_id, merged.status), (900, OrderStatus::Filled));
    assert_eq!(merged.executed_qty, dec("0.010"));
    assert_eq!(merged.update_time, Some(9));
    assert_eq!(merged.exchange_order_id(), Some(900));
    assert_eq!(merged.futures.unwrap().algo_id, Some(7));
}

#[test]
fn recorded_account_and_positions_parse_field_for_field() {
    let a = parse_account(&data("account_info_v2.json")).unwrap();
    assert!(a.can_trade);
    assert_eq!(a.update_time, 1_625_474_304_765, "newest asset time");
    assert_eq!(a.balances.len(), 1);
    assert_eq!(a.balances[0].asset, "USDT");
    assert_eq!(a.balances[0].free.to_string(), "23.72469206");
    assert_eq!(a.balances[0].locked, Decimal::ZERO);

    let p = parse_positions(&data("position_risk.json"), Market::UsdM).unwrap();
    assert_eq!(p.len(), 1);
    let p = &p[0];
    assert_eq!((p.market, p.symbol.as_str()), (Market::UsdM, "BTCUSDT"));
    assert_eq!(p.position_side, PositionSide::Both);
    assert_eq!(p.quantity, dec("0.001"));
    assert_eq!(p.entry_price, dec("50000.0"));
    assert_eq!(p.break_even_price, Some(dec("50100.0")));
    assert_eq!(p.unrealized_pnl, dec("1.00000000"));
    assert_eq!(p.leverage, Some(20));
    assert_eq!(
        p.margin_type,
        Some(MarginType::Crossed),
        "\"cross\" is CROSSED"
    );
    assert_eq!(p.isolated_wallet, Some(Decimal::ZERO));
    assert_eq!(p.updated_at, 1_625_474_304_765);
}

#[test]
fn user_trades_carry_realized_pnl_and_position_side() {
    // Binance's documented example ("Account Trade List (USER_DATA)").
    let t = parse_trades(
        br#"[{"buyer":false,"commission":"-0.07819010","commissionAsset":"USDT","id":698759,
              "maker":false,"orderId":25851813,"price":"7819.01","qty":"0.002","quoteQty":"15.63802",
              "realizedPnl":"-0.91539999","side":"SELL","positionSide":"SHORT","symbol":"BTCUSDT",
              "time":1569514978020}]"#,
    )
    .unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].realized_pnl, Some(dec("-0.91539999")));
    assert_eq!(t[0].position_side, Some(PositionSide::Short));
    assert_eq!(t[0].commission, dec("-0.07819010"));
    assert!(!t[0].is_buyer);
}

#[test]
fn conditional_orders_on_usdm_are_algo_requests_with_client_algo_id() {
    let mut req = OrderRequest::new(
        "BTCUSDT".parse().unwrap(),
        Side::Sell,
        OrderType::TrailingStopMarket,
    );
    req.market = Market::UsdM;
    req.quantity = Some(dec("0.010"));
    req.callback_rate = Some(dec("1.5"));
    req.activation_price = Some(dec("51000.00"));
    req.reduce_only = Some(true);
    let id: ClientOrderId = "tb-abc".parse().unwrap();
    let p = algo_order_params(&req, &id);
    let get = |k: &str| p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("algoType"), Some("CONDITIONAL"));
    assert_eq!(get("type"), Some("TRAILING_STOP_MARKET"));
    assert_eq!(get("clientAlgoId"), Some("tb-abc"));
    assert_eq!(get("callbackRate"), Some("1.5"));
    assert_eq!(get("activatePrice"), Some("51000"));
    assert_eq!(get("reduceOnly"), Some("true"));
    assert_eq!(get("quantity"), Some("0.01"));
    assert_eq!(get("newClientOrderId"), None);

    let mut limit = OrderRequest::new("BTCUSD_PERP".parse().unwrap(), Side::Buy, OrderType::Limit);
    limit.market = Market::CoinM;
    limit.quantity = Some(dec("1"));
    limit.price = Some(dec("30000.0"));
    limit.time_in_force = Some(TimeInForce::Gtx);
    let p = new_order_params(&limit, &id, true);
    let get = |k: &str| p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("timeInForce"), Some("GTX"));
    assert_eq!(get("newClientOrderId"), Some("tb-abc"));
    assert_eq!(get("newOrderRespType"), Some("RESULT"));
    assert_eq!(get("price"), Some("30000"));
}

#[test]
fn malformed_answers_are_errors_not_panics() {
    assert!(parse_order(b"{}").is_err());
    assert!(parse_order(br#"{"symbol":"BTCUSDT","orderId":1}"#).is_err());
    assert!(parse_algo_order(br#"{"algoId":"x"}"#).is_err());
    assert!(parse_positions(b"[{\"symbol\":\"BTCUSDT\"}]", Market::UsdM).is_err());
    assert!(parse_account(b"[]").is_err());
    assert!(
        parse_ticker_price(
            br#"{"symbol":"ETHUSDT","price":"1"}"#,
            &"BTCUSDT".parse().unwrap()
        )
        .is_err()
    );
    assert_eq!(
        parse_ticker_price(
            br#"[{"symbol":"BTCUSD_PERP","ps":"BTCUSD","price":"9647.8","time":1}]"#,
            &"BTCUSD_PERP".parse().unwrap()
        )
        .unwrap(),
        dec("9647.8")
    );
}

#[test]
fn plain_and_algo_orders_send_the_same_values_under_their_own_names() {
    let mut req = OrderRequest::new("BTCUSDT".parse().unwrap(), Side::Sell, OrderType::Stop);
    req.market = Market::UsdM;
    req.quantity = Some(dec("0.010"));
    req.price = Some(dec("44000.0"));
    req.stop_price = Some(dec("45000.0"));
    req.activation_price = Some(dec("46000"));
    req.callback_rate = Some(dec("1"));
    req.time_in_force = Some(TimeInForce::Gtc);
    req.reduce_only = Some(true);
    let id: ClientOrderId = "tb-abc".parse().unwrap();
    let plain = new_order_params(&req, &id, false);
    let algo = algo_order_params(&req, &id);
    let renamed: Vec<(&str, String)> = algo
        .iter()
        .filter(|(n, _)| *n != "algoType")
        .map(|(n, v)| {
            let n = match *n {
                "triggerPrice" => "stopPrice",
                "activatePrice" => "activationPrice",
                "clientAlgoId" => "newClientOrderId",
                other => other,
            };
            (n, v.clone())
        })
        .collect();
    assert_eq!(renamed, plain);
    assert_eq!(algo[0], ("algoType", "CONDITIONAL".to_string()));
    let get = |k: &str| algo.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("triggerPrice"), Some("45000"));
    assert_eq!(get("stopPrice"), None);
    assert_eq!(
        new_order_params(&req, &id, true).last(),
        Some(&("newOrderRespType", "RESULT".to_string()))
    );
}
