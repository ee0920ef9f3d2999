"""The package version (setup.py reads it from here). Imports nothing."""

__version__ = "0.1.0"
