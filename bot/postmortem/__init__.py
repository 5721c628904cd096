"""Blameless postmortem drafts built from the incident's timeline."""
