"""The worker agent program `mito worker` (never imports app)."""
