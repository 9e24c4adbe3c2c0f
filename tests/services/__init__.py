"""Launchers for the real services the tests use (started from packages on the machine)."""
