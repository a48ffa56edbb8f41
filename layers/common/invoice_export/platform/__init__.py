"""Platform: runtime wiring, the deployment's settings, observability, the shared rate limiter, side by side."""
