"""Factsmith's PySide6 desktop app: a thin client of the ``core`` API."""
