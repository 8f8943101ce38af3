"""Helpers for testing skysift itself (e.g. a local Spark standalone cluster); not used by jobs."""
