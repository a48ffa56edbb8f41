"""oblio: its adapter behind ProviderAdapter."""
