"""Test and demo media: generated clips, damaged files and the built-in sample dock drop."""

from pipeline.sample.drop import make_sample_drop

__all__ = ["make_sample_drop"]
