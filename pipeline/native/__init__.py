"""The only code that touches native libraries: FFmpeg through PyAV, hashing, compression."""
