"""Venue-independent market domain: instruments, normalized events, order books, klines."""
