"""More lavaan 0.6.14 references: FIML+MLR, multi-group FIML with equality constraints, fixed.x.

The numbers below were produced once with R lavaan 0.6.14 (``Rscript``, as a development aid;
R is not needed to run this test) on tests/data/telecom_1500.csv:

    core <- "PV =~ PV1 + PV2; CCI =~ CCI1 + CCI2 + CCI3 + CCI4; LOY =~ LOY1 + LOY2 + LOY3 + LOY4
             CCI ~ a*PV; LOY ~ b*CCI + PV; ind := a*b"
    sem(core, d, missing = "ml", estimator = "MLR")                                   # core_fiml_mlr
    sem(core, d, missing = "ml", group = "customer_type",
        group.equal = c("loadings", "intercepts"))                                   # core_fiml_scalar
    sem("SAT1 ~ PV1 + PV2; LOY1 ~ SAT1 + PV1", d)                                     # path_listwise

Tolerances: est 1e-3 abs, se 1% rel, chisq/logl (and scaled chisq) 1e-3 rel, other indices
1e-3 abs, npar/df exact, r2 1e-3 abs.
"""

import pytest

from app.stats.sem import fit_model
from tests.stats._sem_golden import fit_mismatches, load_csv

CORE = (
    "PV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\n"
    "CCI ~ a*PV\nLOY ~ b*CCI + PV\nind := a*b"
)
PATH = "SAT1 ~ PV1 + PV2\nLOY1 ~ SAT1 + PV1"

GOLDEN = {
    "core_fiml_mlr": {
        "fit": {
            "npar": 33,
            "chisq": 32.0249962113,
            "df": 32,
            "cfi": 0.99999672622,
            "tli": 0.99999539624,
            "rmsea": 0.00072163314909,
            "srmr": 0.012347684269,
            "logl": -20418.9855552731,
            "unrestricted.logl": -20402.9730571675,
            "baseline.chisq": 7680.267031329,
            "chisq.scaled": 31.7935457734,
            "chisq.scaling.factor": 1.0072797932,
            "cfi.robust": 1,
            "tli.robust": 1.0000354239,
            "rmsea.robust": 0,
        },
        "est": [
            ("PV", "=~", "PV1", 1, 0),
            ("PV", "=~", "PV2", 1.4385916772, 0.0722668137),
            ("CCI", "=~", "CCI1", 1, 0),
            ("CCI", "=~", "CCI2", 1.4391599078, 0.0509618291),
            ("CCI", "=~", "CCI3", 1.3003723139, 0.0487547996),
            ("CCI", "=~", "CCI4", 1.0932592696, 0.0444798907),
            ("LOY", "=~", "LOY1", 1, 0),
            ("LOY", "=~", "LOY2", 1.4069213515, 0.050261404),
            ("LOY", "=~", "LOY3", 1.3252362884, 0.0468889408),
            ("LOY", "=~", "LOY4", 1.1428571705, 0.0463677696),
            ("CCI", "~", "PV", 0.6376640654, 0.0383547732),
            ("LOY", "~", "CCI", 0.3385824008, 0.036900638),
            ("LOY", "~", "PV", 0.3579901688, 0.0371998704),
            ("ind", ":=", "a*b", 0.2159018301, 0.024336715),
        ],
    },
    "core_fiml_scalar": {
        "fit": {
            "npar": 67,
            "chisq": 134.3237858462,
            "df": 128,
            "cfi": 0.99917298118,
            "tli": 0.99912775359,
            "rmsea": 0.0099402793646,
            "srmr": 0.028452293103,
            "logl": -20407.9496699332,
            "unrestricted.logl": -20340.7877770101,
            "baseline.chisq": 7781.4836287942,
        },
        "est": [
            ("PV", "=~", "PV1", 1, 1, 0),
            ("PV", "=~", "PV2", 1, 1.4249804061, 0.0729660531),
            ("CCI", "=~", "CCI1", 1, 1, 0),
            ("CCI", "=~", "CCI2", 1, 1.4358219241, 0.050728724),
            ("CCI", "=~", "CCI3", 1, 1.2991208382, 0.048812192),
            ("CCI", "=~", "CCI4", 1, 1.0919837002, 0.045906857),
            ("LOY", "=~", "LOY1", 1, 1, 0),
            ("LOY", "=~", "LOY2", 1, 1.4076842021, 0.0517608513),
            ("LOY", "=~", "LOY3", 1, 1.3266145775, 0.0506315772),
            ("LOY", "=~", "LOY4", 1, 1.1432967887, 0.0478894686),
            ("CCI", "~", "PV", 1, 0.6396644253, 0.038539929),
            ("LOY", "~", "CCI", 1, 0.334115055, 0.0374409242),
            ("LOY", "~", "PV", 1, 0.3351311534, 0.0433797443),
            ("PV1", "~1", "", 1, 4.608674539, 0.0356776708),
            ("PV2", "~1", "", 1, 4.6000423555, 0.0396610708),
            ("CCI1", "~1", "", 1, 4.5612619121, 0.0358981849),
            ("CCI2", "~1", "", 1, 4.6281687186, 0.0395654865),
            ("CCI3", "~1", "", 1, 4.5858146784, 0.0384855085),
            ("CCI4", "~1", "", 1, 4.6315041217, 0.0359942193),
            ("LOY1", "~1", "", 1, 4.5517022692, 0.0357435892),
            ("LOY2", "~1", "", 1, 4.5697017247, 0.0385031548),
            ("LOY3", "~1", "", 1, 4.5499624439, 0.0389562886),
            ("LOY4", "~1", "", 1, 4.5480276245, 0.0365256929),
            ("PV", "~1", "", 1, 0, 0),
            ("CCI", "~1", "", 1, 0, 0),
            ("LOY", "~1", "", 1, 0, 0),
            ("PV", "=~", "PV1", 2, 1, 0),
            ("PV", "=~", "PV2", 2, 1.4249804061, 0.0729660531),
            ("CCI", "=~", "CCI1", 2, 1, 0),
            ("CCI", "=~", "CCI2", 2, 1.4358219241, 0.050728724),
            ("CCI", "=~", "CCI3", 2, 1.2991208382, 0.048812192),
            ("CCI", "=~", "CCI4", 2, 1.0919837002, 0.045906857),
            ("LOY", "=~", "LOY1", 2, 1, 0),
            ("LOY", "=~", "LOY2", 2, 1.4076842021, 0.0517608513),
            ("LOY", "=~", "LOY3", 2, 1.3266145775, 0.0506315772),
            ("LOY", "=~", "LOY4", 2, 1.1432967887, 0.0478894686),
            ("CCI", "~", "PV", 2, 0.6396644253, 0.038539929),
            ("LOY", "~", "CCI", 2, 0.334115055, 0.0374409242),
            ("LOY", "~", "PV", 2, 0.4445812652, 0.0755640827),
            ("PV1", "~1", "", 2, 4.608674539, 0.0356776708),
            ("PV2", "~1", "", 2, 4.6000423555, 0.0396610708),
            ("CCI1", "~1", "", 2, 4.5612619121, 0.0358981849),
            ("CCI2", "~1", "", 2, 4.6281687186, 0.0395654865),
            ("CCI3", "~1", "", 2, 4.5858146784, 0.0384855085),
            ("CCI4", "~1", "", 2, 4.6315041217, 0.0359942193),
            ("LOY1", "~1", "", 2, 4.5517022692, 0.0357435892),
            ("LOY2", "~1", "", 2, 4.5697017247, 0.0385031548),
            ("LOY3", "~1", "", 2, 4.5499624439, 0.0389562886),
            ("LOY4", "~1", "", 2, 4.5480276245, 0.0365256929),
            ("PV", "~1", "", 2, -0.0186962077, 0.060391427),
            ("CCI", "~1", "", 2, 0.0140818096, 0.0520814174),
            ("LOY", "~1", "", 2, 0.0749476505, 0.0482761227),
            ("PV", "=~", "PV1", 3, 1, 0),
            ("PV", "=~", "PV2", 3, 1.4249804061, 0.0729660531),
            ("CCI", "=~", "CCI1", 3, 1, 0),
            ("CCI", "=~", "CCI2", 3, 1.4358219241, 0.050728724),
            ("CCI", "=~", "CCI3", 3, 1.2991208382, 0.048812192),
            ("CCI", "=~", "CCI4", 3, 1.0919837002, 0.045906857),
            ("LOY", "=~", "LOY1", 3, 1, 0),
            ("LOY", "=~", "LOY2", 3, 1.4076842021, 0.0517608513),
            ("LOY", "=~", "LOY3", 3, 1.3266145775, 0.0506315772),
            ("LOY", "=~", "LOY4", 3, 1.1432967887, 0.0478894686),
            ("CCI", "~", "PV", 3, 0.6396644253, 0.038539929),
            ("LOY", "~", "CCI", 3, 0.334115055, 0.0374409242),
            ("LOY", "~", "PV", 3, 0.375869849, 0.0574093819),
            ("PV1", "~1", "", 3, 4.608674539, 0.0356776708),
            ("PV2", "~1", "", 3, 4.6000423555, 0.0396610708),
            ("CCI1", "~1", "", 3, 4.5612619121, 0.0358981849),
            ("CCI2", "~1", "", 3, 4.6281687186, 0.0395654865),
            ("CCI3", "~1", "", 3, 4.5858146784, 0.0384855085),
            ("CCI4", "~1", "", 3, 4.6315041217, 0.0359942193),
            ("LOY1", "~1", "", 3, 4.5517022692, 0.0357435892),
            ("LOY2", "~1", "", 3, 4.5697017247, 0.0385031548),
            ("LOY3", "~1", "", 3, 4.5499624439, 0.0389562886),
            ("LOY4", "~1", "", 3, 4.5480276245, 0.0365256929),
            ("PV", "~1", "", 3, 0.0088652614, 0.0531819165),
            ("CCI", "~1", "", 3, 0.0099997028, 0.0428211568),
            ("LOY", "~1", "", 3, 0.0371465051, 0.0435837259),
        ],
    },
    "path_listwise": {
        "fit": {
            "npar": 6,
            "chisq": 56.5553270647,
            "df": 1,
            "cfi": 0.879703999,
            "tli": 0.398519995,
            "rmsea": 0.19244969397,
            "srmr": 0.045294760409,
            "logl": -4710.7336020066,
            "unrestricted.logl": -4682.4559384743,
            "baseline.chisq": 466.8218943479,
        },
        "est": [
            ("SAT1", "~", "PV1", 0.079423816, 0.0296338221),
            ("SAT1", "~", "PV2", 0.4011832551, 0.0298757648),
            ("LOY1", "~", "SAT1", 0.1641001575, 0.025562123),
            ("LOY1", "~", "PV1", 0.1475668458, 0.0265100495),
            ("SAT1", "~~", "SAT1", 1.2916046748, 0.0471627344),
            ("LOY1", "~~", "LOY1", 1.4181293216, 0.0517827613),
            ("PV1", "~~", "PV1", 1.4774306667, 0),
            ("PV1", "~~", "PV2", 0.8498746667, 0),
            ("PV2", "~~", "PV2", 1.4535982222, 0),
        ],
        "r2": {"SAT1": 0.1871783468, "LOY1": 0.064119500936},
    },
}

ROBUST = ("chisq.scaled", "chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust")


@pytest.fixture(scope="module")
def data():
    return load_csv("telecom_1500.csv")


def _check(res, name, grouped=False):
    ref = GOLDEN[name]
    plain = {k: v for k, v in ref["fit"].items() if k not in ROBUST}
    assert fit_mismatches(res.fit, plain) == []
    for k in ROBUST:
        if k in ref["fit"]:
            rel = 1e-3 * max(1.0, abs(ref["fit"][k]))
            assert res.fit[k] == pytest.approx(ref["fit"][k], abs=rel), k
    mine = {(e.lhs, e.op, e.rhs, e.group if grouped else None): e for e in res.estimates}
    for row in ref["est"]:
        if grouped:
            lhs, op, rhs, g, est, se = row
            key = (lhs, op, rhs, res.groups[g - 1])
        else:
            lhs, op, rhs, est, se = row
            key = (lhs, op, rhs, None)
        m = mine[key]
        assert m.est == pytest.approx(est, abs=1e-3), key
        if se:
            assert m.se == pytest.approx(se, rel=0.01), key


def test_fiml_mlr(data):
    _check(fit_model(data, CORE, estimator="MLR"), "core_fiml_mlr")


def test_fiml_multigroup_scalar(data):
    res = fit_model(data, CORE, group="customer_type", group_equal=["loadings", "intercepts"])
    _check(res, "core_fiml_scalar", grouped=True)


def test_path_model_fixed_x(data):
    res = fit_model(data, PATH, missing="listwise")
    _check(res, "path_listwise")
    for k, v in GOLDEN["path_listwise"]["r2"].items():
        assert res.r2[k] == pytest.approx(v, abs=1e-3)
