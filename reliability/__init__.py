"""Reliability runs: many documents through the local stack under seeded faults (`make reliability`)."""
