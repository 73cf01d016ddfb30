"""Running work: the engine adapter, the ingest, transcode and verify runs, walking a drop, progress."""
