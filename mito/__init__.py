"""The `mito` command (main.py, the launcher) and the shared vocabulary (mito.vocab)."""
