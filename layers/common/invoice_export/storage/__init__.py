"""Persistence: account settings and credentials, document records, PDFs."""
