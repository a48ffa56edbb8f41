"""infakt: its adapter behind ProviderAdapter."""
