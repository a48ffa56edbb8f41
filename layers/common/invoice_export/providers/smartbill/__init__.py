"""smartbill: its adapter behind ProviderAdapter."""
