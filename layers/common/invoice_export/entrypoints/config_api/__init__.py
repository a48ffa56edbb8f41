"""The configuration API (API Gateway REST API, IAM auth): routes, views, errors."""

from invoice_export.entrypoints.config_api.routes import app, openapi_json, warm_up

__all__ = ["app", "openapi_json", "warm_up"]
