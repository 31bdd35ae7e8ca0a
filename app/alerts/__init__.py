"""Alerts: rules (``app.alert_rules``) evaluated in the engine against the market hub,
feed health and the trading runtime's order notices, and delivered to sinks (a JSONL log,
desktop notifications, a webhook; the UI reads the runtime's history for toasts).

Engine side: never imports Textual. ``app.alerts.runtime.start_alerts`` starts it on an
engine, the same way for the TUI, ``cryptoterm record`` and ``cryptoterm serve``.
"""
