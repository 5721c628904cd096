"""Chat delivery: the outbox, its worker, the Slack and console senders, user groups."""
