"""Disc-burn staging of permanent records: plan (packing), stage (BagIt, ISO), verify."""
