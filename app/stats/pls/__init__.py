"""PLS path modelling (PLS-SEM) and consistent PLS, checked against seminr.

Public API: ``fit_pls(data, model, scheme=, consistent=, missing=) -> PlsResult``,
``parse_pls``; quality criteria ``reliability``, ``htmt``, ``fornell_larcker``,
``cross_loadings``, ``total_effects``, ``indirect_effects``, ``f_squared``, ``inner_vif``,
``item_vif``. The model text is lavaan-style: ``=~`` reflective, ``<~`` formative (mode B),
``~`` paths.
"""

from app.stats.pls.estimate import SCHEMES, PlsResult, fit_pls
from app.stats.pls.evaluate import (
    cross_loadings,
    f_squared,
    fornell_larcker,
    htmt,
    indirect_effects,
    inner_vif,
    item_vif,
    reliability,
    total_effects,
)
from app.stats.pls.spec import Construct, PlsSpec, parse_pls

__all__ = [
    "SCHEMES",
    "Construct",
    "PlsResult",
    "PlsSpec",
    "cross_loadings",
    "f_squared",
    "fit_pls",
    "fornell_larcker",
    "htmt",
    "indirect_effects",
    "inner_vif",
    "item_vif",
    "parse_pls",
    "reliability",
    "total_effects",
]
