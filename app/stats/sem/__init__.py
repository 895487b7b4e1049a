"""pvm's structural equation modelling engine (ML, FIML, MLR; groups and equality constraints).

See README.md in this directory for the module map and the parameter-table layout.
"""

from app.stats.sem.em import SaturatedEM, saturated_em
from app.stats.sem.errors import ModelError
from app.stats.sem.fit import Problem, fit_model, prepare, summarize
from app.stats.sem.partable import GROUP_EQUAL
from app.stats.sem.results import Estimate, MeasurementMatrices, SemResult

__all__ = [
    "GROUP_EQUAL",
    "Estimate",
    "MeasurementMatrices",
    "ModelError",
    "Problem",
    "SaturatedEM",
    "SemResult",
    "fit_model",
    "prepare",
    "saturated_em",
    "summarize",
]
