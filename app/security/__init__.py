"""Abuse protection for the public submission paths: rate limits, bad-token lockout.

``install(app, settings)`` adds :class:`~app.security.middleware.SubmissionGuard`; the limits are
fields of :class:`app.config.Settings`, read from the app's settings (``app.state.settings``).
"""

from app.security.middleware import install

__all__ = ["install"]
