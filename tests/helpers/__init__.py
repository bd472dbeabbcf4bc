"""Shared test helpers: tiny models and data built inside the tests."""
