"""Textual widgets that draw engine views: ladder, ticker strip, tape, chart, status bar."""
