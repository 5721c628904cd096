"""Listeners of the bolt app: ack at once, then guard → flow → ephemeral answer after the ack."""
