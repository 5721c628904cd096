"""Reminders and escalation: timers derived from incident state, fired by APScheduler."""
