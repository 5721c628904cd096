"""Audit log: who did what, to what, through which interface."""
