"""Strict local fake of the iFirma API; see `local.fakes.ifirma.server`."""

from local.fakes.ifirma.server import IfirmaFake

__all__ = ["IfirmaFake"]
