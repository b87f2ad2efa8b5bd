"""Datasets ganlens can render and read."""
