"""Clients of the ML platform (registry, serving, orchestrator, metrics) and alert sources.

Everything here is an edge: it may import `bot.errors`, never the incident core's services.
"""
