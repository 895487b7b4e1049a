"""PLS path modelling (PLS-SEM) and consistent PLS, checked against seminr.

Public API: ``fit_pls(data, model, scheme=, consistent=, missing=) -> PlsResult``,
``bootstrap_pls(result, draws=, seed=, interval=) -> PlsBootstrap``, ``parse_pls``,
``check_pls`` (the checks ``fit_pls`` starts with, without estimating); quality criteria
``reliability``, ``htmt``, ``fornell_larcker``, ``cross_loadings``, ``total_effects``,
``indirect_effects``, ``f_squared``, ``inner_vif``, ``item_vif``, ``srmr``; ``predict_pls``
(PLSpredict), ``blindfolding`` (Q²), ``ipma`` and ``index_weights``/``respondent_index``
(ACSI-style indices; ``index_draws``/``percentile_interval``: their stratified bootstrap),
``pls_mga`` (PLS-MGA, permutation test, MICOM); ``pls_result_dict`` (the API's JSON).
The model text is lavaan-style: ``=~`` reflective, ``<~`` formative (mode B),
``~`` paths.
"""

from app.stats.pls.bootstrap import PlsBootstrap, bootstrap_pls
from app.stats.pls.estimate import SCHEMES, PlsResult, check_pls, fit_pls, solve_pls
from app.stats.pls.evaluate import (
    cross_loadings,
    f_squared,
    fornell_larcker,
    htmt,
    htmt_from_cor,
    indirect_effects,
    inner_vif,
    item_vif,
    reliability,
    srmr,
    total_effects,
)
from app.stats.pls.indexboot import IndexDraw, index_draws, percentile_interval, stratified_rows
from app.stats.pls.ipma import Ipma, index_weights, ipma, respondent_index
from app.stats.pls.mga import PlsMga, pls_mga
from app.stats.pls.predict import Blindfolding, PlsPredict, blindfolding, predict_pls
from app.stats.pls.report import pls_result_dict
from app.stats.pls.spec import Construct, PlsSpec, parse_pls

__all__ = [
    "Blindfolding",
    "SCHEMES",
    "Construct",
    "IndexDraw",
    "Ipma",
    "PlsMga",
    "PlsPredict",
    "PlsBootstrap",
    "PlsResult",
    "PlsSpec",
    "blindfolding",
    "bootstrap_pls",
    "check_pls",
    "cross_loadings",
    "f_squared",
    "fit_pls",
    "fornell_larcker",
    "htmt",
    "htmt_from_cor",
    "indirect_effects",
    "index_draws",
    "inner_vif",
    "index_weights",
    "ipma",
    "item_vif",
    "parse_pls",
    "percentile_interval",
    "pls_mga",
    "pls_result_dict",
    "predict_pls",
    "reliability",
    "respondent_index",
    "solve_pls",
    "srmr",
    "stratified_rows",
    "total_effects",
]
