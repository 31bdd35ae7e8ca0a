"""Blotters: open orders (cancel with ``c``), positions, balances and own fills, as tabs.

Fed a ``TradingView`` each frame; tables are rebuilt only when the view's version moved,
and the open-orders cursor stays on the same order across rebuilds.
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from app.trading.models import Balance, Fill, Order, Position
from app.trading.validation import fmt

TIME_FMT = "%H:%M:%S"


def _num(value: Decimal | None, places: int | None = None) -> str:
    if value is None:
        return "—"
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    return fmt(value)


def _hms(ts: int) -> str:
    import time
    return time.strftime(TIME_FMT, time.gmtime(ts / 1000))


def _side(side: str) -> Text:
    return Text(side.upper(), style="bold green" if side in ("buy", "long") else "bold red")


class Blotter(Vertical):
    DEFAULT_CSS = """
    Blotter { height: 10; }
    Blotter TabbedContent { height: 1fr; }
    Blotter TabPane { padding: 0; }
    Blotter DataTable { height: 1fr; }
    Blotter .blotter-note { color: $text-muted; height: 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._version = -1
        self._order_ids: list[str] = []

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="bl-orders", id="bl-tabs"):
            with TabPane("Open orders", id="bl-orders"):
                yield DataTable(id="bl-orders-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Positions", id="bl-positions"):
                yield DataTable(id="bl-positions-table", cursor_type="row")
            with TabPane("Balances", id="bl-balances"):
                yield DataTable(id="bl-balances-table", cursor_type="row")
            with TabPane("Fills", id="bl-fills"):
                yield DataTable(id="bl-fills-table", cursor_type="row")
            with TabPane("Account", id="bl-account"):
                yield Static("", id="bl-account-note", classes="blotter-note")

    def show_tab(self, tab: str) -> None:
        """Switch to ``orders``, ``positions``, ``balances``, ``fills`` or ``account``."""
        self.query_one(TabbedContent).active = f"bl-{tab}"

    def on_mount(self) -> None:
        self.query_one("#bl-orders-table", DataTable).add_columns(
            "Time", "Instrument", "Side", "Type", "Price", "Trigger", "Amount", "Filled", "Status")
        self.query_one("#bl-positions-table", DataTable).add_columns(
            "Instrument", "Side", "Size", "Entry", "Mark", "uPnL", "Lev", "Margin", "Liq.", "Funding")
        self.query_one("#bl-balances-table", DataTable).add_columns("Asset", "Total", "Available",
                                                                    "Locked")
        self.query_one("#bl-fills-table", DataTable).add_columns(
            "Time", "Instrument", "Side", "Price", "Amount", "Fee", "Liq.")

    # -- feeding ------------------------------------------------------------------------

    def update_view(self, view) -> bool:
        """Show a TradingView; returns True when the tables were rebuilt."""
        if view is None or view.version == self._version:
            return False
        self._version = view.version
        self._fill_orders(view.open_orders, getattr(view, "bracket_role", None))
        self._fill_positions(view.positions)
        self._fill_balances(view.balances)
        self._fill_fills(view.fills)
        note = f"{view.label}" + (f" — {view.problem}" if view.problem else "")
        self.query_one("#bl-account-note", Static).update(note)
        return True

    def _fill_orders(self, orders: tuple[Order, ...], role=None) -> None:
        """``role``: client id -> its part in a bracket ("TP", "+TP 31000 SL 29000")."""
        table = self.query_one("#bl-orders-table", DataTable)
        selected = self.selected_order_id()
        table.clear()
        self._order_ids = []
        for o in orders:
            table.add_row(_hms(o.created_ts), o.symbol, _side(o.side),
                          o.type + (" PO" if o.time_in_force == "PO" else "")
                          + (" RO" if o.reduce_only else "")
                          + (f" {r}" if role is not None and (r := role(o.client_order_id))
                             else ""),
                          _num(o.price), _num(o.stop_price), _num(o.amount), _num(o.filled),
                          o.status, key=o.client_order_id)
            self._order_ids.append(o.client_order_id)
        if selected in self._order_ids:
            table.move_cursor(row=self._order_ids.index(selected))

    def _fill_positions(self, positions: tuple[Position, ...]) -> None:
        table = self.query_one("#bl-positions-table", DataTable)
        table.clear()
        for p in positions:
            pnl = Text(_num(p.unrealized_pnl, 2), style="green" if p.unrealized_pnl >= 0 else "red")
            table.add_row(p.symbol, _side(p.side), _num(abs(p.size)), _num(p.entry_price, 2),
                          _num(p.mark_price, 2), pnl, f"{p.leverage}x {p.margin_mode}",
                          _num(p.margin, 2), _num(p.liquidation_price, 2), _num(p.funding_paid, 4))

    def _fill_balances(self, balances: tuple[Balance, ...]) -> None:
        table = self.query_one("#bl-balances-table", DataTable)
        table.clear()
        for b in balances:
            table.add_row(b.asset, _num(b.total, 8), _num(b.available, 8), _num(b.locked, 8))

    def _fill_fills(self, fills: tuple[Fill, ...]) -> None:
        table = self.query_one("#bl-fills-table", DataTable)
        table.clear()
        for f in fills[:100]:
            table.add_row(_hms(f.ts), f.symbol, _side(f.side), _num(f.price), _num(f.amount),
                          f"{_num(f.fee, 6)} {f.fee_asset}", f.liquidity)

    # -- selection -----------------------------------------------------------------------

    def selected_order_id(self) -> str | None:
        table = self.query_one("#bl-orders-table", DataTable)
        if not self._order_ids or table.cursor_row is None:
            return None
        row = table.cursor_row
        return self._order_ids[row] if 0 <= row < len(self._order_ids) else None
