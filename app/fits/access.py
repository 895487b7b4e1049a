"""Who may see and remove a fit job: API-key branch scopes applied to fits (issue 11, F5).

A fit job keeps the scope of the key that created it (``FitJob.scope``). The rows a job uses
are those of its ``filters.branch`` when given (checked to lie inside the key's scope when the
job was created) and otherwise those of the key's scope; None means every branch. A key may
read a job only when that set lies inside the key's own scope, so a branch-scoped key never sees
numbers computed from other branches' rows. Unreadable jobs answer 404 like missing ones, so ids
cannot be probed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.auth.service import Principal
from app.errors import Forbidden
from app.fits.models import FitJob


def requested_branches(spec: dict[str, Any]) -> list[str] | None:
    """The ``filters.branch`` of a stored spec (None: no branch filter)."""
    branches = (spec.get("filters") or {}).get("branch")
    return list(branches) if branches else None


def data_branches(spec: dict[str, Any], scope: Sequence[str] | None) -> list[str] | None:
    """The branches whose rows a job with ``spec`` run under key ``scope`` uses; None: all."""
    requested = requested_branches(spec)
    if requested is not None:
        return requested
    return None if scope is None else sorted(scope)


def job_branches(job: FitJob) -> list[str] | None:
    return data_branches(job.spec or {}, job.scope)


def can_read(job: FitJob, principal: Principal) -> bool:
    """True when every row the job may have used is inside the key's scope."""
    if principal.branches is None:
        return True
    branches = job_branches(job)
    return branches is not None and set(branches) <= set(principal.branches)


def check_remove(job: FitJob, principal: Principal) -> None:
    """Forbidden unless the key created the job or is an admin key (scope checked by reading)."""
    if principal.has_role("admin"):
        return
    if job.owner_key_id is None or job.owner_key_id != principal.key_id:
        raise Forbidden("only the key that created this fit, or an admin key, may delete it")
