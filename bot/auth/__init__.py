"""API tokens with scopes, and who is acting (actors)."""
