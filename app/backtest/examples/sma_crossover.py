"""SMA crossover: long when the fast average of closes is above the slow one, flat otherwise.

Run it:   cryptoterm backtest sma_crossover.py binance BTC/USDT 1h --since 2024-01-01
Sweep it: cryptoterm backtest sma_crossover.py binance BTC/USDT 1h --since 2024-01-01 \\
              --grid fast=5:50:5 slow=20:200:20 --sort sharpe

A strategy is a plain file with a class Strategy; cryptoterm needs nothing imported.
"""


class Strategy:
    # defaults; override with --param fast=5 or sweep with --grid fast=5:50:5
    params = {"fast": 10, "slow": 30, "size": 0.95}

    def on_start(self, ctx):
        self.fast = int(self.params["fast"])
        self.slow = int(self.params["slow"])
        self.longest = max(self.fast, self.slow)
        self.fast_sum = 0.0
        self.slow_sum = 0.0
        self.seen = 0
        self.was_above = None

    def on_bar(self, ctx, bar):
        # running sums: each bar adds its close and drops the one that left the window
        self.seen += 1
        closes = ctx.history(self.longest + 1).close  # oldest first, this bar last
        self.fast_sum += bar.close
        self.slow_sum += bar.close
        if self.seen > self.fast:
            self.fast_sum -= closes[-self.fast - 1]
        if self.seen > self.slow:
            self.slow_sum -= closes[-self.slow - 1]
        if self.seen < self.longest:
            return
        above = self.fast_sum / self.fast > self.slow_sum / self.slow
        if above == self.was_above:
            return
        self.was_above = above
        if above and ctx.position == 0:
            # spend a share of the cash, rounded down to the market's lot size
            amount = ctx.round_amount(ctx.cash * self.params["size"] / bar.close)
            # an order under the market's minimum value would be refused (and stop the run)
            if amount > 0 and amount * bar.close >= ctx.min_notional:
                ctx.buy(amount)
        elif not above and ctx.position * bar.close >= ctx.min_notional:
            ctx.close()  # (a position worth less than the minimum cannot be sold: dust)
