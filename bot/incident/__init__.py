"""Incidents: lifecycle, roles, timeline."""
