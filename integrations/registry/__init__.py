"""Model registries (MLflow): versions, tags and aliases, and the runbook actions on aliases."""
