"""fakturownia: its adapter behind ProviderAdapter."""
