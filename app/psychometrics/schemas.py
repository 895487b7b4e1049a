"""Request parameters of the psychometrics endpoints and CLI (responses are the stats
results' ``to_dict()``, see API.md "Psychometrics")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MissingMode = Literal["fiml", "listwise"]
EFAMethod = Literal["minres", "ml", "principal"]
EFARotation = Literal["oblimin", "varimax", "promax", "none"]
EFAUse = Literal["complete", "pairwise"]


@dataclass(frozen=True)
class ReliabilityParams:
    """``constructs``: subset of the instrument's constructs (None: all);
    ``branch``: branch codes to restrict to (None: every branch the key may see)."""

    branch: list[str] | None = None
    constructs: list[str] | None = None
    missing: MissingMode = "fiml"
    exclude_flagged: bool = False  # leave out responses with a quality flag


@dataclass(frozen=True)
class EFAParams:
    """``items`` None: every item of ``constructs`` (None: of the instrument); ``factors``
    None: parallel analysis; ``use``: complete cases or pairwise correlations (psych)."""

    items: list[str] | None = None
    constructs: list[str] | None = None
    use: EFAUse = "complete"
    factors: int | None = None
    rotation: EFARotation = "oblimin"
    method: EFAMethod = "minres"
    branch: list[str] | None = None
    seed: int = 1
    exclude_flagged: bool = False  # leave out responses with a quality flag
