"""Ordered (categorical) indicators: lavaan's ``ordered=`` with estimators WLSMV and DWLS.

``categorical_stats`` (thresholds, polychoric/polyserial correlations, their NACOV) and
``fit_ordinal`` (delta parameterization); ``fit_model(..., ordered=...)`` dispatches here.
"""

from app.stats.sem.ordinal.polychoric import CategoricalStats, categorical_stats
from app.stats.sem.ordinal.wls import ESTIMATORS as ORDINAL_ESTIMATORS
from app.stats.sem.ordinal.wls import OrdinalProblem, fit_ordinal, ordered_names, prepare_ordinal

__all__ = [
    "ORDINAL_ESTIMATORS",
    "CategoricalStats",
    "OrdinalProblem",
    "categorical_stats",
    "fit_ordinal",
    "ordered_names",
    "prepare_ordinal",
]
