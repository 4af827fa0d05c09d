"""Meter models: the built-in object sets (IObjectSet plugins)."""
