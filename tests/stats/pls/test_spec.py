"""The PLS model text: what it accepts and every refusal, with its reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.stats.pls import fit_pls, parse_pls
from app.stats.sem import ModelError

GOOD = """
# comments and blank lines are fine
A =~ a1 + a2 + a3
B <~ b1 + b2
C =~ c1
C ~ A + B; B ~ A
"""


def test_reads_reflective_formative_single_item_and_paths() -> None:
    spec = parse_pls(GOOD)
    assert spec.names == ["A", "B", "C"]
    assert [(c.name, c.reflective, c.items) for c in spec.constructs] == [
        ("A", True, ("a1", "a2", "a3")),
        ("B", False, ("b1", "b2")),
        ("C", True, ("c1",)),
    ]
    assert spec.paths == (("A", "C"), ("B", "C"), ("A", "B"))
    assert spec.endogenous == ["B", "C"] and spec.antecedents("C") == ["A", "B"]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("X =~ X + x1\nY =~ y1\nY ~ X", "can not be measured by itself"),
        ("A =~ a*a1 + a2\nB =~ b1\nB ~ A", "modifiers"),
        ("A =~ a1\nB =~ b1\nB ~ A\na1 ~~ b1", "no meaning in a PLS"),
        ("A =~ a1\nB =~ b1\nB ~ A\nA ~ B", "feedback loop"),
        ("A =~ a1\nB =~ b1", "no structural path"),
        ("A =~ a1\nB =~ a1\nB ~ A", "measures both"),
        ("A =~ a1\nB =~ b1\nB ~ Z", "Z in a path is not a construct"),
        ("A =~ a1\nA <~ a2\nB =~ b1\nB ~ A", "both by =~ and <~"),
        ("A =~ a1\nB =~ b1\nB ~ A\nwhat is this", "cannot read"),
        ("", "no construct"),
    ],
)
def test_refusals_name_the_problem(model: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_pls(model)


def test_data_problems_are_model_errors() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a1", "a2", "b1"])
    with pytest.raises(ModelError, match="unknown variable"):
        fit_pls(frame, "A =~ a1 + a9\nB =~ b1\nB ~ A")
    with pytest.raises(ModelError, match="constant item"):
        fit_pls(frame.assign(a2=1.0), "A =~ a1 + a2\nB =~ b1\nB ~ A")
    with pytest.raises(ModelError, match="missing must be"):
        fit_pls(frame, "A =~ a1 + a2\nB =~ b1\nB ~ A", missing="pairwise")  # type: ignore[arg-type]


def test_listwise_and_mean_replacement_state_their_rows() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a1", "a2", "b1"])
    frame.loc[:9, "a1"] = np.nan
    model = "A =~ a1 + a2\nB =~ b1\nB ~ A"
    assert fit_pls(frame, model, missing="listwise").nobs == 50
    mean = fit_pls(frame, model, missing="mean")
    assert mean.nobs == 60 and mean.missing == "mean"
    assert np.allclose(mean.data[:10, 0], frame["a1"].mean())
