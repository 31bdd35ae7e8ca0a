"""Backtesting: a strategy file run over stored history with the paper account's fill model.

Engine-side (never imports textual): the CLI command and the TUI screen both drive it.
"""
