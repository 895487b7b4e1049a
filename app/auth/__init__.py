"""API keys and invitation tokens."""
