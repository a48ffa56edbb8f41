"""Strict local fake of the inFakt HTTP API (v3); see `local.fakes.infakt.server`."""

from local.fakes.infakt.server import InfaktFake

__all__ = ["InfaktFake"]
