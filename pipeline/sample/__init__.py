"""Test and demo media: clip specs, encoding, photos, damaged files and the built-in sample dock drop."""

from pipeline.sample.drop import make_sample_drop

__all__ = ["make_sample_drop"]
