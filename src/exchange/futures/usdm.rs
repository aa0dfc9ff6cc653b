//! USDⓈ-M futures (`/fapi`): paths and weights, as "Market Data" in
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>
//! states them.

use super::Paths;
use crate::domain::Market;
use crate::exchange::transport::Endpoint;

pub(super) const PATHS: Paths = Paths {
    market: Market::UsdM,
    time: Endpoint {
        path: "/fapi/v1/time",
        weight: 1,
    },
    exchange_info: Endpoint {
        path: "/fapi/v1/exchangeInfo",
        weight: 1,
    },
    klines: "/fapi/v1/klines",
    ticker_24hr_all: Endpoint {
        path: "/fapi/v1/ticker/24hr",
        weight: 40,
    },
    premium_index_all: Endpoint {
        path: "/fapi/v1/premiumIndex",
        weight: 10,
    },
    open_interest: Endpoint {
        path: "/fapi/v1/openInterest",
        weight: 1,
    },
    funding_rate: Endpoint {
        path: "/fapi/v1/fundingRate",
        weight: 1,
    },
    // Weight 0 on the request-weight budget; its own limit (1000 per 5 minutes) is kept by
    // the backfill's pacing.
    open_interest_hist: Endpoint {
        path: "/futures/data/openInterestHist",
        weight: 0,
    },
};
