"""`cryptoterm replay --from cryptofeed`: captures in cryptofeed's raw data format
(AsyncFileCallback: ``ts: frame``, ``URL -> ts: body``, connect and send lines, a header
file per exchange), written here for each venue cryptoterm speaks."""

from __future__ import annotations

import orjson
import pytest

from app.cli import main
from app.feeds.cryptofeed_import import CryptofeedError, CryptofeedImport, replay_cryptofeed
from tests.captures import (binance_depth, binance_exchange_info, binance_snapshot,
                            binance_spot_session, binance_trade, cf_connect, cf_frame, cf_rest,
                            cf_send, dumps, okx_book, okx_unsequenced_session, write_lines)

T0 = 1_700_000_000.0
BINANCE_WS = "wss://stream.binance.com:9443/stream?streams=btcusdt@depth@100ms/btcusdt@aggTrade"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def write_binance(d, header: bool = True) -> None:
    """BINANCE.0 (instrument list + configuration), BINANCE.http.0.0 (a snapshot asked with
    limit=1000, as cryptofeed asks), BINANCE.ws.1.0 (the frames)."""
    frames, _, _ = binance_spot_session()
    if header:
        write_lines(d / "BINANCE.0", [
            cf_rest("https://api.binance.com/api/v3/exchangeInfo", T0,
                    binance_exchange_info([("BTCUSDT", "BTC", "USDT"), ("ETHUSDT", "ETH", "USDT")])),
            'configuration: {"l2_book":["BTC-USDT"],"trades":["BTC-USDT"]}'])
    ws = [cf_connect(BINANCE_WS, T0 + 0.5)]
    http = []
    ts = T0 + 1
    for kind, text in frames:
        ts += 0.1
        if kind == "snapshot":
            http.append(cf_rest("https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000",
                                ts, text))
        else:
            ws.append(cf_frame(ts, text))
    ws.append(cf_frame(ts + 0.1, binance_trade("BTCUSDT", 42, 100.5, 0.25, buyer_maker=True)))
    ws.append("")  # cryptofeed's flush leaves blank lines
    write_lines(d / "BINANCE.http.0.0", http)
    write_lines(d / "BINANCE.ws.1.0", ws)


def test_binance_spot_capture_replays_to_the_book(tmp_path, capsys):
    write_binance(tmp_path)
    _, bids, asks = binance_spot_session()
    rep, imp = replay_cryptofeed(tmp_path / "BINANCE.ws.1.0")
    st = rep.hub.state("cryptopair_binance_btcusdt")
    assert st.synced and st.book.side_dicts() == (bids, asks)
    assert rep.stats.snapshots == 1 and rep.stats.malformed == 0
    assert imp.stats.files == 3 and imp.stats.frames == 4 and imp.stats.rest == 2
    rc, out, err = run_cli(capsys, "replay", str(tmp_path / "BINANCE.ws.1.0"), "--from", "cryptofeed",
                           "--emit", "events")
    assert rc == 0
    assert err.splitlines() == ["cryptoterm: cryptofeed capture: reading BINANCE.0, BINANCE.http.0.0, "
                                "BINANCE.ws.1.0"]
    events = [orjson.loads(line) for line in out.splitlines()]
    assert {"type": "trade", "id": "cryptopair_binance_btcusdt", "ts": 1700000000000, "price": 100.5,
            "amount": 0.25, "side": "sell", "trade_id": "42"} in events
    assert events[-2]["type"] == "book" and events[-2]["bids"][0] == [100.0, 0.5]


def test_binance_futures_capture(tmp_path):
    write_lines(tmp_path / "BINANCE_FUTURES.0", [
        cf_rest("https://fapi.binance.com/fapi/v1/exchangeInfo", T0,
                binance_exchange_info([("BTCUSDT", "BTC", "USDT")], perp=True))])
    write_lines(tmp_path / "BINANCE_FUTURES.http.0.0", [
        cf_rest("https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000", T0 + 1.2,
                binance_snapshot(100, [(50.0, 1.0)], [(51.0, 1.0)]))])
    write_lines(tmp_path / "BINANCE_FUTURES.ws.1.0", [
        cf_connect("wss://fstream.binance.com/stream?streams=btcusdt@depth@100ms", T0 + 0.5),
        cf_frame(T0 + 1.1, binance_depth("BTCUSDT", 95, 102, [(50.0, 2.0)], [], prev=94)),
        cf_frame(T0 + 1.3, binance_depth("BTCUSDT", 103, 105, [(49.5, 1.0)], [(51.0, 0.0), (52.0, 3.0)],
                                         prev=102))])
    rep, _ = replay_cryptofeed(tmp_path)
    st = rep.hub.state("cryptoperp_binance_btcusdt")
    assert st.synced and st.book.side_dicts() == ({50.0: 2.0, 49.5: 1.0}, {52.0: 3.0})


def okx_swap_row() -> dict:
    return {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "ctType": "linear", "settleCcy": "USDT",
            "ctValCcy": "BTC", "ctVal": "0.01", "lotSz": "1", "tickSz": "0.1", "state": "live"}


def write_okx(d, header: bool = True) -> None:
    spot_frames, _, _ = okx_unsequenced_session("BTC-USDT")
    swap_b, swap_a = [("100.0", "250")], [("100.1", "40")]
    swap = okx_book("snapshot", "BTC-USDT-SWAP", swap_b, swap_a, (swap_b, swap_a))
    if header:
        spot_list = dumps({"code": "0", "data": [
            {"instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT",
             "tickSz": "0.1", "lotSz": "0.00000001", "state": "live"}]})
        write_lines(d / "OKX.0", [
            cf_rest("https://www.okx.com/api/v5/public/instruments?instType=SPOT", T0, spot_list),
            cf_rest("https://www.okx.com/api/v5/public/instruments?instType=SWAP", T0,
                    dumps({"code": "0", "data": [okx_swap_row()]})),
            cf_rest("https://www.okx.com/api/v5/public/instruments?instType=FUTURES", T0,
                    dumps({"code": "0", "data": []})),
            'configuration: {"l2_book":["BTC-USDT","BTC-USDT-PERP","BTC-USD-22K27"]}'])
    url = "wss://ws.okx.com:8443/ws/v5/public"
    sub = dumps({"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]})
    write_lines(d / "OKX.ws.1.0", [
        cf_connect(url, T0 + 1), cf_send(url, T0 + 1.1, sub),
        cf_frame(T0 + 1.2, dumps({"event": "subscribe", "arg": {"channel": "books", "instId": "BTC-USDT"}})),
        cf_frame(T0 + 1.3, spot_frames[0]),
        # a frame recorded as bytes: cryptofeed writes the Python literal
        cf_frame(T0 + 1.4, repr(spot_frames[1].encode())),
        cf_frame(T0 + 1.5, spot_frames[2]),
        cf_frame(T0 + 1.6, swap),
        cf_frame(T0 + 1.7, okx_book("snapshot", "BTC-USD-220527", [("1", "1")], [("2", "1")],
                                    ([("1", "1")], [("2", "1")]))),
        cf_frame(T0 + 1.75, okx_book("snapshot", "BTC-USD-SWAP", [("1", "1")], [("2", "1")],
                                     ([("1", "1")], [("2", "1")]))),  # inverse
        cf_frame(T0 + 1.8, "pong"),
    ])


def test_okx_capture_without_sequence_ids_spot_and_swap(tmp_path, capsys):
    write_okx(tmp_path)
    _, bids, asks = okx_unsequenced_session()
    rc, out, err = run_cli(capsys, "replay", str(tmp_path), "--from", "cryptofeed", "--emit", "books")
    assert rc == 0
    books = {b["id"]: b for b in map(orjson.loads, out.splitlines())}
    assert books["cryptopair_okx_btcusdt"]["bids"] == [[p, q] for p, q in sorted(bids.items(), reverse=True)]
    assert books["cryptopair_okx_btcusdt"]["asks"] == [[p, q] for p, q in sorted(asks.items())]
    # swap sizes are contracts of 0.01 BTC on the wire: the book is in BTC
    assert books["cryptoperp_okx_btcusdt"]["bids"] == [[100.0, 2.5]]
    assert books["cryptoperp_okx_btcusdt"]["asks"] == [[100.1, 0.4]]
    assert ("cryptoterm: cryptofeed capture: 2 okx frame(s) of dated futures, options and swaps not "
            "settled in USDT skipped (BTC-USD-220527, BTC-USD-SWAP): cryptoterm streams spot and "
            "USDT swaps") in err.splitlines()
    rc, out, _ = run_cli(capsys, "replay", str(tmp_path), "--from", "cryptofeed")
    stats = orjson.loads(out)
    assert stats["malformed"] == 0 and stats["checksum_failures"] == 0
    assert stats["import"]["unsupported"] == 2 and stats["import"]["frames"] == 5


def test_bybit_v5_capture_takes_its_book_depth(tmp_path):
    """cryptofeed subscribes orderbook.200; cryptoterm's own default is 50."""
    info = dumps({"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [
        {"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
         "baseCoin": "BTC", "quoteCoin": "USDT", "settleCoin": "USDT",
         "priceFilter": {"tickSize": "0.10"}, "lotSizeFilter": {"qtyStep": "0.001"}}]}})
    write_lines(tmp_path / "BYBIT.0", [cf_rest(
        "https://api.bybit.com/v5/market/instruments-info?&category=linear&status=Trading&limit=1000",
        T0, info)])
    url = "wss://stream.bybit.com/v5/public/linear"
    book = {"topic": "orderbook.200.BTCUSDT", "type": "snapshot", "ts": 1700000000100,
            "data": {"s": "BTCUSDT", "b": [["30000.10", "1.500"], ["30000.00", "0.250"]],
                     "a": [["30000.20", "0.750"]], "u": 5000, "seq": 81000}, "cts": 1700000000098}
    delta = {"topic": "orderbook.200.BTCUSDT", "type": "delta", "ts": 1700000000120,
             "data": {"s": "BTCUSDT", "b": [["30000.00", "0"]], "a": [["30000.30", "0.900"]],
                      "u": 5001, "seq": 81007}, "cts": 1700000000118}
    write_lines(tmp_path / "BYBIT.ws.3.0", [
        cf_connect(url, T0 + 1),
        cf_send(url, T0 + 1.1, dumps({"op": "subscribe", "args": ["orderbook.200.BTCUSDT"]})),
        cf_frame(T0 + 1.2, dumps({"success": True, "ret_msg": "", "op": "subscribe", "conn_id": "x"})),
        cf_frame(T0 + 1.3, dumps(book)), cf_frame(T0 + 1.4, dumps(delta))])
    rep, imp = replay_cryptofeed(tmp_path)
    assert imp.venue_options() == {("bybit", "perp"): {"book_depth": 200}}
    st = rep.hub.state("cryptoperp_bybit_btcusdt")
    assert st.synced and st.book.side_dicts() == ({30000.1: 1.5}, {30000.2: 0.75, 30000.3: 0.9})
    assert rep.stats.unknown == 0


def test_coinbase_advanced_trade_capture(tmp_path):
    products = dumps({"products": [
        {"product_id": "BTC-USD", "base_currency_id": "BTC", "quote_currency_id": "USD",
         "price_increment": "0.01", "base_increment": "0.00000001", "status": "online",
         "product_type": "SPOT", "alias": ""}]})
    write_lines(tmp_path / "COINBASE.0", [
        cf_rest("https://api.coinbase.com/api/v3/brokerage/products", T0, products)])

    def l2(seq, kind, updates):
        return dumps({"channel": "l2_data", "client_id": "", "timestamp": "2023-11-14T22:13:20Z",
                      "sequence_num": seq, "events": [{"type": kind, "product_id": "BTC-USD",
                      "updates": [{"side": s, "event_time": "2023-11-14T22:13:20Z", "price_level": p,
                                   "new_quantity": q} for s, p, q in updates]}]})
    trades = dumps({"channel": "market_trades", "client_id": "", "timestamp": "2023-11-14T22:13:21Z",
                    "sequence_num": 2, "events": [{"type": "update", "trades": [
                        {"product_id": "BTC-USD", "trade_id": "9", "price": "60000.02", "size": "0.01",
                         "time": "2023-11-14T22:13:21Z", "side": "SELL"}]}]})
    write_lines(tmp_path / "COINBASE.ws.7.0", [
        cf_connect("wss://advanced-trade-ws.coinbase.com", T0 + 1),
        cf_frame(T0 + 1.1, l2(0, "snapshot", [("bid", "60000.01", "0.5"), ("offer", "60000.02", "0.75")])),
        cf_frame(T0 + 1.2, l2(1, "update", [("bid", "60000.00", "1"), ("offer", "60000.02", "0")])),
        cf_frame(T0 + 1.3, trades)])
    events = []
    rep, _ = replay_cryptofeed(tmp_path, on_event=lambda ev: events.append(ev.to_json()))
    st = rep.hub.state("cryptopair_coinbase_btcusd")
    assert st.synced and st.book.side_dicts() == ({60000.01: 0.5, 60000.0: 1.0}, {})
    assert [(e["price"], e["amount"]) for e in events if e["type"] == "trade"] == [(60000.02, 0.01)]


def test_other_api_versions_and_venues_are_counted_and_named(tmp_path, capsys):
    write_lines(tmp_path / "COINBASE.0", [
        cf_rest("https://api.pro.coinbase.com/products", T0, "[]")])
    write_lines(tmp_path / "COINBASE.ws.28.0", [
        cf_connect("wss://ws-feed.pro.coinbase.com", T0 + 1),
        *[cf_frame(T0 + 2 + i, dumps({"type": "l2update", "product_id": "BTC-USD", "changes": []}))
          for i in range(3)]])
    write_lines(tmp_path / "BYBIT.ws.25.0", [
        cf_connect("wss://stream.bybit.com/realtime_public", T0 + 1),
        cf_frame(T0 + 2, dumps({"topic": "trade.BTCUSDT", "data": []}))])
    write_lines(tmp_path / "BYBIT.ws.26.1", [cf_frame(T0 + 3, dumps({"topic": "orderbook.50.X"}))])
    write_lines(tmp_path / "KRAKEN.ws.48.0", [cf_frame(T0, "[]")])
    (tmp_path / "notes.txt").write_text("not a capture\n")
    rc, out, err = run_cli(capsys, "replay", str(tmp_path), "--from", "cryptofeed")
    assert rc == 2
    lines = err.splitlines()
    assert "cryptoterm: cryptofeed capture: KRAKEN: not a venue cryptoterm speaks; 1 file(s) skipped" in lines
    assert ("cryptoterm: cryptofeed capture: 3 line(s) from wss://ws-feed.pro.coinbase.com skipped: the "
            "ws-feed.pro.coinbase.com feed (Coinbase Exchange/Pro); cryptoterm decodes Coinbase "
            "Advanced Trade") in lines
    assert ("cryptoterm: cryptofeed capture: 1 line(s) from wss://stream.bybit.com/realtime_public "
            "skipped: Bybit's pre-v5 API (/realtime_public); cryptoterm decodes v5") in lines
    assert any("cannot tell Bybit spot from linear" in line and "BYBIT.ws.26.0" in line for line in lines)
    assert lines[-1].startswith("cryptoterm: error: ") and "no usable line among" in lines[-1]
    stats = orjson.loads(out)
    assert stats["import"]["other_api"] == 5 and stats["import"]["unsupported"] == 1


def test_without_the_header_file_instruments_come_from_the_frames(tmp_path, capsys):
    write_binance(tmp_path, header=False)
    write_okx(tmp_path, header=False)
    _, bids, asks = binance_spot_session()
    rc, out, err = run_cli(capsys, "replay", str(tmp_path), "--from", "cryptofeed", "--emit", "books")
    assert rc == 0
    books = {b["id"]: b for b in map(orjson.loads, out.splitlines())}
    assert books["cryptopair_binance_btcusdt"]["bids"][0] == [100.0, 0.5]
    assert "cryptopair_okx_btcusdt" in books and "cryptoperp_okx_btcusdt" not in books
    lines = err.splitlines()
    assert ("cryptoterm: no instrument list for binance spot before BINANCE.ws.1.0 line 2: decoded with "
            "1 instrument(s) derived from its frames (BTCUSDT), assuming tick size 0.01 and lot size "
            "0.00001 (frames do not carry them)") in lines
    assert ("cryptoterm: no instrument list for okx perp before OKX.ws.1.0 line 7: 1 frame skipped; "
            "okx perp sizes are contracts whose size (ctVal) only the instrument list gives; "
            "cryptofeed writes the instrument lists to the exchange's header file (OKX.0): is it "
            "beside the others?") in lines


def test_odd_lines_are_counted_not_fatal(tmp_path, capsys):
    write_binance(tmp_path)
    ws = (tmp_path / "BINANCE.ws.1.0").read_text().splitlines()
    ws[2:2] = ["garbage without a timestamp", "12.5 not a frame", "wss://x <=> 1: ?",
               cf_frame(T0 + 1.15, "x" * 5000)]
    write_lines(tmp_path / "BINANCE.ws.1.0", ws)
    http = (tmp_path / "BINANCE.http.0.0").read_text().rstrip("\n")
    # cryptofeed appends the response headers when asked to
    (tmp_path / "BINANCE.http.0.0").write_text(http + ' header: {"Content-Type": "application/json"}\n')
    rc, out, err = run_cli(capsys, "replay", str(tmp_path), "--from", "cryptofeed", "--emit", "stats",
                           "--max-line-mb", "0.001")
    stats = orjson.loads(out)
    assert rc == 0 and stats["malformed"] == 4 and stats["snapshots"] == 1
    assert "1 line longer than 1,048 bytes skipped as malformed (first: BINANCE.ws.1.0 line 6)" in err
    rep, _ = replay_cryptofeed(tmp_path)
    assert rep.hub.state("cryptopair_binance_btcusdt").synced


def test_a_renamed_file_is_read_alone_by_its_urls(tmp_path):
    write_binance(tmp_path)
    ws = tmp_path / "BINANCE.ws.1.0"
    renamed = tmp_path / "my-binance-capture.txt"
    renamed.write_text(ws.read_text())
    imp = CryptofeedImport.open(renamed)
    assert [p.name for s in imp.streams for p in s.paths] == ["my-binance-capture.txt"]
    rep, _ = replay_cryptofeed(renamed)
    assert rep.stats.messages == 4  # decoded as Binance spot, with derived instruments


@pytest.mark.parametrize("make", ["missing", "empty-dir"])
def test_nothing_to_import(tmp_path, capsys, make):
    target = tmp_path / "nothing"
    if make == "empty-dir":
        target.mkdir()
        (target / "README").write_text("hi")
    with pytest.raises(CryptofeedError):
        CryptofeedImport.open(target)
    rc, _, err = run_cli(capsys, "replay", str(target), "--from", "cryptofeed")
    assert rc == 2 and err.startswith(f"cryptoterm: error: {target}: ")


def test_a_directory_without_from_cryptofeed_says_how(tmp_path, capsys):
    write_binance(tmp_path)
    rc, _, err = run_cli(capsys, "replay", str(tmp_path))
    assert rc == 2 and err.strip() == (f"cryptoterm: error: {tmp_path}: is a directory; a cryptofeed "
                                       "raw data directory replays with --from cryptofeed")
