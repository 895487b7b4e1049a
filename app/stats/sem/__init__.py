"""pvm's structural equation modelling engine (ML, FIML, MLR, MLM; groups, equality constraints).

The public API (what the web layers and notebooks use; everything else is internal):

* ``check_model(data, model, ...)`` is the one validation entry point: options, syntax,
  variables, ``:=`` labels, paths to compare, rows per group (no moments); a ``ModelError``
  names the argument at fault in ``field``. ``prepare`` starts with it.
* ``fit_model(data, model, ...)`` fits a model in lavaan syntax, optionally with a bootstrap;
  ``prepare`` + ``Problem.refit`` + ``summarize`` are its steps, for callers that refit.
* ``parse_model`` and ``build_partable`` read lavaan syntax into a parameter table;
  ``definitions`` checks its ``:=`` parameters.
* ``fit_invariance``, ``screen_groups``, ``usable_data`` and ``chisq_difference``: multi-group
  measurement invariance; ``path_difference``: one path across groups.
* ``lrt_table``: lavaan's ``lavTestLRT`` table of nested fits (from their fit measures).
* ``apply_bootstrap``: percentile bootstrap intervals for a fitted ``Problem``.
* Results: ``SemResult`` (``to_dict()`` is API.md's result object) with its ``Estimate`` rows,
  ``MeasurementMatrices`` per group and, where they apply, ``RobustTest`` (MLR/MLM scaled test
  and robust indices), ``BootstrapInfo`` (replicates requested, kept, dropped; interval; seed)
  and ``OrdinalInfo`` (parameterization, ordered indicators).
* ``factor_scores``: lavaan's ``lavPredict`` (regression or Bartlett scores per row).
* ``saturated_em``: EM moments of the saturated model under missing data.
* ``fit_ordinal``, ``categorical_stats``, ``ordered_names``: ordered indicators (``ordered=``,
  WLSMV/DWLS; ``fit_model(..., ordered=...)`` dispatches to ``fit_ordinal``).

See README.md in this directory for the module map and the parameter-table layout.
"""

from app.stats.sem.bootstrap import apply_bootstrap
from app.stats.sem.em import SaturatedEM, saturated_em
from app.stats.sem.errors import ModelError
from app.stats.sem.fit import fit_model
from app.stats.sem.intervals import percentile_interval
from app.stats.sem.invariance import (
    DELTA_CFI,
    LEVELS,
    ExcludedGroup,
    InvarianceLevel,
    InvarianceResult,
    chisq_difference,
    fit_invariance,
    screen_groups,
    usable_data,
)
from app.stats.sem.lrt import lrt_table
from app.stats.sem.ordinal import categorical_stats, fit_ordinal, ordered_names
from app.stats.sem.partable import GROUP_EQUAL, ParTable, build_partable
from app.stats.sem.path_difference import PathDifference, path_difference
from app.stats.sem.problem import Problem, prepare
from app.stats.sem.results import (
    BootstrapInfo,
    Estimate,
    MeasurementMatrices,
    OrdinalInfo,
    RobustTest,
    SemResult,
    finite_or_none,
)
from app.stats.sem.scores import factor_scores
from app.stats.sem.summary import summarize
from app.stats.sem.syntax import parse_model
from app.stats.sem.validate import CheckedModel, check_model, definitions, require_variables

__all__ = [
    "DELTA_CFI",
    "GROUP_EQUAL",
    "LEVELS",
    "BootstrapInfo",
    "CheckedModel",
    "Estimate",
    "ExcludedGroup",
    "InvarianceLevel",
    "InvarianceResult",
    "MeasurementMatrices",
    "ModelError",
    "OrdinalInfo",
    "ParTable",
    "PathDifference",
    "Problem",
    "RobustTest",
    "SaturatedEM",
    "SemResult",
    "apply_bootstrap",
    "build_partable",
    "categorical_stats",
    "check_model",
    "chisq_difference",
    "definitions",
    "finite_or_none",
    "factor_scores",
    "fit_invariance",
    "fit_model",
    "fit_ordinal",
    "ordered_names",
    "lrt_table",
    "parse_model",
    "path_difference",
    "percentile_interval",
    "prepare",
    "require_variables",
    "saturated_em",
    "screen_groups",
    "summarize",
    "usable_data",
]
