"""The archive catalog: Parquet tables, their schema, writes and reads."""
