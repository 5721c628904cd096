"""Alert intake: webhook sources, the durable inbox, and dedupe, grouping and routing into incidents."""
