"""Errors raised by the SEM engine (and the PLS estimator)."""

from __future__ import annotations

from collections.abc import Sequence


class ModelError(ValueError):
    """Bad model syntax, unknown variables, or data that cannot identify the model.

    The web layer maps it to HTTP 422; the message is meant for the user. ``field`` names the
    argument of the check that is wrong (``model``, ``estimator``, ``missing``, ``group``,
    ``compare_paths``), so a caller can point at the request field it came from;
    ``variables`` lists the variables the message is about (the unknown ones), if any.
    """

    def __init__(
        self, message: str, *, field: str = "model", variables: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.field = field
        self.variables = tuple(variables)
