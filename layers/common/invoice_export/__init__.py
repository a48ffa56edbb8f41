"""invoice_export: forwards documents to online accounting systems exactly once and serves their PDFs."""
