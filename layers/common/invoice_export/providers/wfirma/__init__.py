"""wfirma: its adapter behind ProviderAdapter."""
