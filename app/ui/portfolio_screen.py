"""The portfolio: every configured account side by side, in USD. Equity, today's PnL,
unrealized and realized PnL, funding and margin per account; then every position (entry,
mark, PnL, margin, liquidation price) and every balance with its value.

The figures are the engine's (``app.trading.portfolio``, computed by the trading service
twice a second while this screen is open); this screen only lays them out.
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from app.trading.portfolio import Portfolio

REFRESH_S = 0.5
CENT = Decimal("0.01")


def money(value: Decimal | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    q = value.quantize(CENT)
    return f"{q:+,.2f}" if signed else f"{q:,.2f}"


def pnl(value: Decimal | None) -> Text:
    if value is None:
        return Text("—", style="dim")
    return Text(money(value, signed=True), style="green" if value >= 0 else "red")


def num(value: Decimal | None) -> str:
    if value is None:
        return "—"
    text = format(value.normalize(), "f")
    return text if len(text) <= 14 else f"{value:.6g}"


class PortfolioScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "close", "Back", tooltip="Back to the market screen"),
        Binding("p", "close", "Back", show=False),
    ]

    DEFAULT_CSS = """
    PortfolioScreen #pf-total { height: auto; padding: 0 1; text-style: bold; }
    PortfolioScreen #pf-note { height: auto; padding: 0 1; color: $text-muted; }
    PortfolioScreen .pf-heading { height: 1; padding: 0 1; margin: 1 0 0 0; color: $accent; }
    PortfolioScreen DataTable { height: auto; max-height: 12; }
    """

    def __init__(self, trading) -> None:
        super().__init__()
        self.trading = trading
        self._shown_ts: int | None = None

    def compose(self) -> ComposeResult:
        yield Static("Portfolio · waiting for the first figures", id="pf-total")
        with VerticalScroll(id="pf-body"):
            yield Static("Accounts", classes="pf-heading")
            yield DataTable(id="pf-accounts", cursor_type="none", zebra_stripes=True)
            yield Static("Positions", classes="pf-heading")
            yield DataTable(id="pf-positions", cursor_type="none", zebra_stripes=True)
            yield Static("Balances", classes="pf-heading")
            yield DataTable(id="pf-balances", cursor_type="none", zebra_stripes=True)
            yield Static("USD stablecoins count as 1 USD; other assets at their USDT market. "
                         "Today = equity now − equity at 00:00 UTC (or at the first sight today).",
                         id="pf-note")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#pf-accounts", DataTable).add_columns(
            "Account", "Equity USD", "Today", "Unrealized", "Realized", "Funding", "Margin", "Note")
        self.query_one("#pf-positions", DataTable).add_columns(
            "Account", "Symbol", "Side", "Size", "Entry", "Mark", "uPnL", "rPnL", "Funding",
            "Margin", "Liq.")
        self.query_one("#pf-balances", DataTable).add_columns(
            "Account", "Asset", "Total", "Available", "USD price", "Value USD")
        self.trading.watch_portfolio(True)
        self.set_interval(REFRESH_S, self.refresh_figures)

    def on_unmount(self) -> None:
        self.trading.watch_portfolio(False)

    def action_close(self) -> None:
        self.dismiss(None)

    def refresh_figures(self) -> None:
        pf = self.trading.portfolio_view()
        if pf is None or pf.ts == self._shown_ts:
            return
        self._shown_ts = pf.ts
        self.show(pf)

    def show(self, pf: Portfolio) -> None:
        total = Text(f"Portfolio · {len(pf.accounts)} account"
                     f"{'s' if len(pf.accounts) != 1 else ''} · equity {money(pf.total_equity_usd)} USD"
                     " · today ")
        total.append_text(pnl(pf.total_today_pnl_usd))
        self.query_one("#pf-total", Static).update(total)
        accounts = self.query_one("#pf-accounts", DataTable)
        positions = self.query_one("#pf-positions", DataTable)
        balances = self.query_one("#pf-balances", DataTable)
        for table in (accounts, positions, balances):
            table.clear()
        for a in pf.accounts:
            note = a.problem or ""
            if a.unpriced:
                note = (note + "; " if note else "") + f"no price: {', '.join(a.unpriced)}"
            accounts.add_row(a.label, money(a.equity_usd), pnl(a.today_pnl_usd),
                             pnl(a.unrealized_usd), pnl(a.realized_usd), money(a.funding_paid_usd),
                             money(a.margin_usd), Text(note, style="yellow") if note else "")
            for p in a.positions:
                side = Text("long", style="green") if p.size > 0 else Text("short", style="red")
                positions.add_row(a.account, p.symbol, side, num(abs(p.size)), num(p.entry),
                                  num(p.mark), pnl(p.unrealized), pnl(p.realized),
                                  money(p.funding_paid), money(p.margin), num(p.liquidation_price))
            for b in a.balances:
                balances.add_row(a.account, b.asset, num(b.total), num(b.available),
                                 num(b.usd_price), money(b.value_usd))
