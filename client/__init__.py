"""The Mitosis SDK and the `mito` client CLI. Never imports the coordinator (app)."""
