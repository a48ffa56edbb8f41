"""ifirma: its adapter behind ProviderAdapter."""
