"""Request parameters of the psychometrics endpoints and CLI (responses are the stats
results' ``to_dict()``, see API.md "Psychometrics")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MissingMode = Literal["fiml", "listwise"]
EFAMethod = Literal["minres", "ml", "principal"]
EFARotation = Literal["oblimin", "varimax", "promax", "none"]
EFAUse = Literal["complete", "pairwise", "fiml"]


@dataclass(frozen=True)
class ReliabilityParams:
    """``constructs``: subset of the instrument's constructs (None: all);
    ``branch``: branch codes to restrict to (None: every branch the key may see);
    ``htmt_bootstrap``: bootstrap draws for percentile intervals of HTMT/HTMT2 (0: none)."""

    branch: list[str] | None = None
    constructs: list[str] | None = None
    missing: MissingMode = "fiml"
    htmt_bootstrap: int = 0  # bootstrap draws for HTMT intervals (0: none)
    seed: int = 1
    exclude_flagged: bool = False  # leave out responses with a quality flag


@dataclass(frozen=True)
class EFAParams:
    """``items`` None: every item of ``constructs`` (None: of the instrument); ``factors``
    None: parallel analysis; ``use``: complete cases, pairwise correlations (psych) or the
    FIML (EM) correlations (lavaan's ``lavCor(missing="ml")``)."""

    items: list[str] | None = None
    constructs: list[str] | None = None
    use: EFAUse = "complete"
    factors: int | None = None
    rotation: EFARotation = "oblimin"
    method: EFAMethod = "minres"
    branch: list[str] | None = None
    seed: int = 1
    exclude_flagged: bool = False  # leave out responses with a quality flag
