"""Per-file stages. Pure: no Ray here; ``pipeline.runs.runner`` runs them on a cluster."""
