"""firmao: its adapter behind ProviderAdapter."""
