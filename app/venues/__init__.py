"""One module per exchange: stream names, subscribe messages, decoding, book-sync rules."""
