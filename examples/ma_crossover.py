#!/usr/bin/env python3
"""A moving-average crossover strategy for tradebeat (Python standard library only).

tradebeat runs it after each closed candle of the series it is attached to, with the
context as one JSON object on stdin, and reads one JSON object from stdout (README.md,
"Strategies"). It buys when the fast simple moving average of the closes crosses above
the slow one and sells when it crosses below; otherwise it does nothing.

Params (the trade strategy's `params`, all optional):
  fast      candles in the fast average, default 5
  slow      candles in the slow average, default 20 (must exceed fast)
  quantity  base-asset quantity of each MARKET order, a decimal string, default "0.001"

It never sells more than the free base-asset balance it is told about, and writes one line
per decision to stderr (tradebeat appends it to logs/strategy-<slug>.log).

Register and attach (paper mode):
  tradebeat ctl strategies add 'MA crossover' 'python3 examples/ma_crossover.py'
  tradebeat ctl trade-strategies add ma-crossover BTCUSDT 1m --params '{"fast": 5, "slow": 20}'
"""

import json
import sys
from decimal import Decimal, InvalidOperation


def sma(values, n):
    return sum(values[-n:]) / Decimal(n)


def decide(ctx):
    params = ctx.get("params") or {}
    fast = int(params.get("fast", 5))
    slow = int(params.get("slow", 20))
    quantity = str(params.get("quantity", "0.001"))
    if not (0 < fast < slow):
        return {"note": f"bad params: need 0 < fast ({fast}) < slow ({slow})"}
    try:
        closes = [Decimal(k["close"]) for k in ctx.get("klines", [])]
        Decimal(quantity)
    except (InvalidOperation, KeyError, TypeError) as e:
        return {"note": f"unreadable input: {e}"}
    if len(closes) < slow + 1:
        return {"note": f"waiting for {slow + 1} candles, have {len(closes)}"}
    before = sma(closes[:-1], fast) - sma(closes[:-1], slow)
    now = sma(closes, fast) - sma(closes, slow)
    base = (ctx.get("position") or {}).get("base_asset")
    free_base = Decimal(0)
    for b in ctx.get("balances", []):
        if b.get("asset") == base:
            free_base = Decimal(b.get("free", "0"))
    if before <= 0 < now:
        side = "BUY"
    elif before >= 0 > now and free_base >= Decimal(quantity):
        side = "SELL"
    else:
        return {"note": f"no cross (fast-slow {now:.4f})"}
    print(f"{ctx.get('symbol')} {side} {quantity}: fast-slow {before:.4f} -> {now:.4f}",
          file=sys.stderr)
    return {
        "orders": [{"side": side, "type": "MARKET", "quantity": quantity}],
        "note": f"{side} on the cross",
    }


def main():
    ctx = json.load(sys.stdin)
    json.dump(decide(ctx), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
