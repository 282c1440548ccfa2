"""Accord: an open-source, self-hostable B2B Customer Data Platform."""

__version__ = "0.1.0"
