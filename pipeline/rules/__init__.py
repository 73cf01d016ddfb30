"""Pure rules, no I/O: retention, device custody, device timelines, gap events."""
