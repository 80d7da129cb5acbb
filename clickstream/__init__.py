"""Shared core: settings, raw layout, connections and the embedded services."""
