//! Parse tests on recorded Binance futures payloads (`tests/data/http_futures_*`) and on
//! Binance's documented COIN-M examples.

use rust_decimal::Decimal;

use super::wire;
use super::*;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn recorded_premium_index_parses_exactly() {
    let marks = wire::parse_premium_index(&data("http_futures_market_premium_index.json")).unwrap();
    assert_eq!(marks.len(), 1);
    let m = &marks[0];
    assert_eq!(m.symbol.as_str(), "BTCUSDT");
    assert_eq!(m.mark_price, dec("11793.63104562"));
    assert_eq!(m.index_price, dec("11781.80495970"));
    assert_eq!(m.estimated_settle_price, Some(dec("11781.16138815")));
    assert_eq!(m.funding_rate, Some(dec("0.00038246")));
    assert_eq!(m.next_funding_time, Some(1_597_392_000_000));
    assert_eq!(m.time, 1_597_370_495_002);
}

#[test]
fn coinm_delivery_contract_has_no_funding() {
    // Binance's documented `GET /dapi/v1/premiumIndex` example, a quarterly contract.
    let body = br#"[{"symbol":"BTCUSD_200925","pair":"BTCUSD","markPrice":"9269.61601155",
        "indexPrice":"9269.12451208","estimatedSettlePrice":"9269.13432412",
        "lastFundingRate":"","interestRate":"","nextFundingTime":0,"time":1591256486000}]"#;
    let marks = wire::parse_premium_index(body).unwrap();
    assert_eq!(marks[0].symbol.as_str(), "BTCUSD_200925");
    assert_eq!(marks[0].funding_rate, None);
    assert_eq!(marks[0].next_funding_time, None);
}

#[test]
fn a_malformed_premium_index_element_refuses_the_answer() {
    let body = br#"[{"symbol":"BTCUSDT","markPrice":"1.5","indexPrice":"1.4","time":1},
                    {"symbol":"ETHUSDT","markPrice":1.5,"indexPrice":"1.4","time":1}]"#;
    let err = wire::parse_premium_index(body).unwrap_err();
    assert!(err.contains("[1].markPrice"), "{err}");
}

#[test]
fn recorded_open_interest_parses() {
    let oi = wire::parse_open_interest(&data("http_futures_market_open_interest.json")).unwrap();
    assert_eq!(oi.symbol.as_str(), "BTCUSDT");
    assert_eq!(oi.open_interest, dec("10659.509"));
    assert_eq!(oi.time, 1_589_437_530_011);
    // COIN-M (documented example): contracts, kept as sent.
    let body = br#"{"symbol":"BTCUSD_200626","pair":"BTCUSD","openInterest":"15004",
        "contractType":"CURRENT_QUARTER","time":1591261042378}"#;
    assert_eq!(
        wire::parse_open_interest(body).unwrap().open_interest,
        dec("15004")
    );
    assert!(
        wire::parse_open_interest(br#"{"symbol":"BTCUSDT","openInterest":"x","time":1}"#).is_err()
    );
}

#[test]
fn recorded_funding_rates_parse() {
    let rates = wire::parse_funding_rates(&data("http_futures_market_funding_rate.json")).unwrap();
    assert_eq!(rates.len(), 2);
    assert_eq!(rates[0].funding_rate, dec("-0.03750000"));
    assert_eq!(rates[0].funding_time, 1_570_608_000_000);
    assert_eq!(rates[1].funding_rate, dec("0.00010000"));
    assert_eq!(rates[1].mark_price, None);
}

#[test]
fn recorded_open_interest_history_parses_with_string_timestamps() {
    let symbol: Symbol = "BTCUSDT".parse().unwrap();
    let hist = wire::parse_open_interest_hist(
        &data("http_futures_market_open_interest_historical.json"),
        &symbol,
    )
    .unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0].time, 1_583_127_900_000);
    assert_eq!(hist[0].open_interest, dec("20403.63700000"));
    assert_eq!(hist[0].open_interest_value, Some(dec("150570784.07809979")));
    assert_eq!(hist[1].time - hist[0].time, 5 * 60_000);
}

#[test]
fn recorded_ticker_parses_without_a_book() {
    let tickers = wire::parse_tickers(&data("http_futures_market_ticker_24hr.json")).unwrap();
    assert_eq!(tickers.len(), 1);
    let t = &tickers[0];
    assert_eq!(t.symbol.as_str(), "BTCUSDT");
    assert_eq!(t.last_price, 4.000002);
    assert_eq!((t.bid_price, t.ask_qty), (0.0, 0.0));
    assert_eq!(t.volume, 8913.3);
    assert_eq!(t.quote_volume, 15.3);
    assert_eq!(t.trades, 76);
    assert_eq!(t.open_time, 1_499_783_499_040);
    // COIN-M (documented example): volume in contracts, base-asset volume as the second.
    let body = br#"[{"symbol":"BTCUSD_200925","pair":"BTCUSD","priceChange":"136.6","priceChangePercent":"1.436",
        "weightedAvgPrice":"9547.3","lastPrice":"9651.6","lastQty":"1","openPrice":"9515.0","highPrice":"9687.0",
        "lowPrice":"9499.5","volume":"494109","baseVolume":"5192.94797687","openTime":1591170300000,
        "closeTime":1591256718418,"firstId":600507,"lastId":697803,"count":97297}]"#;
    let t = &wire::parse_tickers(body).unwrap()[0];
    assert_eq!((t.volume, t.quote_volume), (494_109.0, 5192.94797687));
}

#[test]
fn recorded_klines_parse() {
    let klines =
        crate::exchange::spot::parse_klines(&data("http_futures_market_klines.json")).unwrap();
    assert_eq!(klines.len(), 1);
    assert_eq!(klines[0].open_time, 1_499_040_000_000);
    assert_eq!(klines[0].close_time, 1_499_644_799_999);
    assert_eq!(klines[0].trades, 308);
}

#[test]
fn recorded_exchange_info_parses_with_its_limits() {
    let info = parse_exchange_info(&data("http_futures_market_exchange_info.json")).unwrap();
    assert_eq!(info.request_weight_per_minute(), Some(6000));
    let btc = info.symbol(&"BTCUSDT".parse().unwrap()).unwrap();
    assert_eq!(btc.status.as_str(), "TRADING");
    assert_eq!(btc.base_asset, "BTC");
    let price = btc.filters.price.as_ref().unwrap();
    assert_eq!(price.tick_size, dec("0.10"));
    // COIN-M names the status `contractStatus`.
    let body = br#"{"serverTime":1,"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT",
        "interval":"MINUTE","intervalNum":1,"limit":6000}],"symbols":[{"symbol":"BTCUSD_200925",
        "pair":"BTCUSD","contractType":"CURRENT_QUARTER","deliveryDate":1601020800000,
        "contractStatus":"SETTLING","contractSize":100,"baseAsset":"BTC","quoteAsset":"USD",
        "marginAsset":"BTC","filters":[]}]}"#;
    let info = parse_exchange_info(body).unwrap();
    assert_eq!(info.symbols[0].status.as_str(), "SETTLING");
    assert_eq!(info.symbols[0].symbol.as_str(), "BTCUSD_200925");
}

#[test]
fn klines_weight_follows_the_limit() {
    assert_eq!(klines_weight(1), 1);
    assert_eq!(klines_weight(100), 2);
    assert_eq!(klines_weight(1000), 5);
    assert_eq!(klines_weight(1500), 10);
}

#[test]
fn recorded_exchange_info_gives_the_contract_specs() {
    let specs =
        wire::parse_contract_specs(&data("http_futures_market_exchange_info.json")).unwrap();
    let btc = specs
        .iter()
        .find(|c| c.symbol.as_str() == "BTCUSDT")
        .unwrap();
    assert_eq!(btc.contract_type, "PERPETUAL");
    assert_eq!(btc.contract_size, None);
    assert_eq!(btc.delivery_date, Some(4_133_404_802_000));
    assert_eq!(btc.onboard_date, Some(1_569_398_400_000));
    // COIN-M: the contract size is a JSON number, in the quote asset.
    let body = br#"{"symbols":[{"symbol":"BTCUSD_200925","contractType":"CURRENT_QUARTER",
        "deliveryDate":1601020800000,"onboardDate":0,"contractSize":100}]}"#;
    let specs = wire::parse_contract_specs(body).unwrap();
    assert_eq!(specs[0].contract_size, Some(dec("100")));
    assert_eq!(specs[0].delivery_date, Some(1_601_020_800_000));
    assert_eq!(specs[0].onboard_date, None);
    let bad = br#"{"symbols":[{"symbol":"BTCUSD_PERP","contractSize":[1]}]}"#;
    assert!(
        wire::parse_contract_specs(bad)
            .unwrap_err()
            .contains("contractSize")
    );
}
