"""Storage backends of the hub: ``memory`` (default, one process) and ``redis`` (shared)."""
