"""Loaders for checkpoint formats. None of them ever executes code from a file."""
