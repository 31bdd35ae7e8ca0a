"""Accounts (paper, testnet/demo via ccxt), order validation and keyring-backed keys."""
