"""Entry points: what a Lambda handler calls (SQS batches, dead letters, schedules, the link and configuration APIs)."""
