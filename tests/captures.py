"""Small captures written by tests: venue payloads in the shapes of ../shared/protocols,
wrapped as cryptoterm's format v1 lines or as cryptofeed's raw data lines."""

from __future__ import annotations

import orjson

from app.venues.okx import book_checksum


def dumps(obj) -> str:
    return orjson.dumps(obj).decode()


# -- format v1 --------------------------------------------------------------------------

def v1(venue: str, market: str, kind: str, data: str, channel: str | None = None) -> bytes:
    return orjson.dumps({"recv_ts": 1, "venue": venue, "market": market, "kind": kind,
                         "channel": channel, "data": data})


def write_v1(path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


# -- Binance ----------------------------------------------------------------------------

def binance_exchange_info(symbols: list[tuple[str, str, str]], perp: bool = False) -> str:
    rows = []
    for sym, base, quote in symbols:
        row = {"symbol": sym, "status": "TRADING", "baseAsset": base, "quoteAsset": quote,
               "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.10"},
                           {"filterType": "LOT_SIZE", "stepSize": "0.001"}]}
        if perp:
            row["contractType"] = "PERPETUAL"
        rows.append(row)
    return dumps({"timezone": "UTC", "serverTime": 1700000000000, "symbols": rows})


def levels(pairs) -> list[list[str]]:
    return [[f"{p:.2f}", f"{q:.3f}"] for p, q in pairs]


def binance_depth(sym: str, first: int, last: int, bids=(), asks=(), ts: int = 1700000000000,
                  prev: int | None = None) -> str:
    data = {"e": "depthUpdate", "E": ts, "s": sym, "U": first, "u": last,
            "b": levels(bids), "a": levels(asks)}
    if prev is not None:
        data["pu"] = prev
        data["T"] = ts
    return dumps({"stream": f"{sym.lower()}@depth@100ms", "data": data})


def binance_snapshot(last_id: int, bids, asks) -> str:
    return dumps({"lastUpdateId": last_id, "bids": levels(bids), "asks": levels(asks)})


def binance_trade(sym: str, trade_id: int, price: float, qty: float, ts: int = 1700000000000,
                  buyer_maker: bool = False) -> str:
    return dumps({"stream": f"{sym.lower()}@aggTrade",
                  "data": {"e": "aggTrade", "E": ts, "s": sym, "a": trade_id, "p": f"{price:.2f}",
                           "q": f"{qty:.3f}", "f": trade_id, "l": trade_id, "T": ts,
                           "m": buyer_maker, "M": True}})


def binance_spot_session(sym: str = "BTCUSDT") -> tuple[list[tuple[str, str]], dict, dict]:
    """A spot book's frames and its snapshot: [(kind, text)] in arrival order with the
    snapshot marked "snapshot", and the book it must end as."""
    frames = [
        ("ws", binance_depth(sym, 99, 101, [(100.0, 1.0)], [(101.0, 1.0)])),  # before the snapshot
        ("snapshot", binance_snapshot(100, [(100.0, 2.0), (99.0, 1.0)], [(101.0, 2.0), (102.0, 1.0)])),
        ("ws", binance_depth(sym, 102, 103, [(99.5, 3.0)], [(102.0, 0.0)])),
        ("ws", binance_depth(sym, 104, 104, [(100.0, 0.5)], [])),
    ]
    # the first diff straddles the snapshot (99 <= 101 <= 101) and applies over it
    bids = {100.0: 0.5, 99.5: 3.0, 99.0: 1.0}
    asks = {101.0: 1.0}
    return frames, bids, asks


# -- OKX --------------------------------------------------------------------------------

def okx_instruments_spot(inst_ids: list[str]) -> str:
    rows = [{"instType": "SPOT", "instId": i, "baseCcy": i.split("-")[0], "quoteCcy": i.split("-")[1],
             "tickSz": "0.1", "lotSz": "0.00000001", "minSz": "0.00001", "state": "live"}
            for i in inst_ids]
    return dumps({"code": "0", "msg": "", "data": rows})


def okx_book(action: str, inst_id: str, bids, asks, book_after, ts: int = 1652459225000,
             seq: int | None = None, prev: int | None = None, checksum: bool = True) -> str:
    """A ``books`` push; ``book_after`` = (bids, asks) as (price str, size str) lists, best
    first, that the checksum is computed over (what the book is after this push)."""
    d = {"asks": [[p, q, "0", "1"] for p, q in asks], "bids": [[p, q, "0", "1"] for p, q in bids],
         "ts": str(ts)}
    if checksum:
        d["checksum"] = book_checksum(*book_after)
    if seq is not None:
        d["seqId"] = seq
    if prev is not None:
        d["prevSeqId"] = prev
    return dumps({"arg": {"channel": "books", "instId": inst_id}, "action": action, "data": [d]})


def okx_unsequenced_session(inst_id: str = "BTC-USDT") -> tuple[list[str], dict, dict]:
    """Books pushes as OKX sent them before 2023 (no seqId/prevSeqId), and the end book."""
    snap_b, snap_a = [("100.0", "1.5"), ("99.9", "2")], [("100.1", "1"), ("100.2", "3")]
    after_1 = ([("100.0", "1.5"), ("99.9", "4")], [("100.2", "3")])
    after_2 = ([("100.05", "0.5"), ("100.0", "1.5"), ("99.9", "4")], [("100.2", "3")])
    frames = [
        okx_book("snapshot", inst_id, snap_b, snap_a, (snap_b, snap_a)),
        okx_book("update", inst_id, [("99.9", "4")], [("100.1", "0")], after_1),
        okx_book("update", inst_id, [("100.05", "0.5")], [], after_2),
    ]
    return frames, {100.05: 0.5, 100.0: 1.5, 99.9: 4.0}, {100.2: 3.0}


# -- cryptofeed raw data ----------------------------------------------------------------

def cf_frame(ts: float, data: str) -> str:
    return f"{ts}: {data}"


def cf_rest(url: str, ts: float, body: str) -> str:
    return f"{url} -> {ts}: {body}"


def cf_connect(url: str, ts: float) -> str:
    return f"{url} <-> {ts}"


def cf_send(url: str, ts: float, data: str) -> str:
    return f"{url} <- {ts}: {data}"


def write_lines(path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")
