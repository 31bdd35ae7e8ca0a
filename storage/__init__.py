"""SQLModel tables, engine setup, the batched recorder, queries and backfill."""
