"""dns/providers."""
