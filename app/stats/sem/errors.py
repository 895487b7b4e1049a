"""Errors raised by the SEM engine."""

from __future__ import annotations


class ModelError(ValueError):
    """Bad model syntax, unknown variables, or data that cannot identify the model.

    The web layer maps it to HTTP 422; the message is meant for the user.
    """
