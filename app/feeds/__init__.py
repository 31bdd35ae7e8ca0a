"""Websocket connections, the market hub, and the engine thread that runs them."""
