"""The `mito` command and the small helpers shared by the coordinator, the agent and the client."""
