"""Serving layers (KServe, Seldon MLServer, in-house HTTP routers) and their runbook actions:
fallback on/off, rollback, reload, health."""
