"""Abuse protection for the public submission paths: rate limits, bad-token lockout.

``install(app, settings)`` adds :class:`~app.security.middleware.SubmissionGuard`; limits come
from :class:`~app.security.config.SecurityLimits` (environment, prefix ``PVM_``).
"""

from app.security.middleware import install

__all__ = ["install"]
