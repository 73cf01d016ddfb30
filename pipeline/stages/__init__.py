"""Per-file stages. Pure: no Ray here; ``pipeline.runner`` runs them on a cluster."""
