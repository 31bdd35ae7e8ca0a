"""The local data API (issue #14): what the terminal sees, over HTTP and WebSocket, for
notebooks, bots and spreadsheets, without a second set of exchange connections.

- ``routes``: the FastAPI app (REST endpoints under /api/v1/crypto, OpenAPI at /docs);
- ``stream``: the WebSocket stream, each subscriber paced on its own;
- ``auth``: the token beyond 127.0.0.1;
- ``server``: uvicorn on its own thread and loop, so neither the engine's loop nor the
  UI's ever waits on a client.

It reads the engine only through ``app.engine_api`` (and the store through its
``HistoryReader``); it never imports the UI or Textual, and nothing in it places orders.
"""
