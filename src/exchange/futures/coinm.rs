//! COIN-M futures (`/dapi`): paths and weights, as "Market Data" in
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api>
//! states them.

use super::Paths;
use crate::domain::Market;
use crate::exchange::transport::Endpoint;

pub(super) const PATHS: Paths = Paths {
    market: Market::CoinM,
    time: Endpoint {
        path: "/dapi/v1/time",
        weight: 1,
    },
    exchange_info: Endpoint {
        path: "/dapi/v1/exchangeInfo",
        weight: 1,
    },
    klines: "/dapi/v1/klines",
    ticker_24hr_all: Endpoint {
        path: "/dapi/v1/ticker/24hr",
        weight: 40,
    },
    premium_index_all: Endpoint {
        path: "/dapi/v1/premiumIndex",
        weight: 10,
    },
    open_interest: Endpoint {
        path: "/dapi/v1/openInterest",
        weight: 1,
    },
    funding_rate: Endpoint {
        path: "/dapi/v1/fundingRate",
        weight: 1,
    },
    open_interest_hist: Endpoint {
        path: "/futures/data/openInterestHist",
        weight: 1,
    },
};
