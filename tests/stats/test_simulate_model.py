"""simulate_model: answers drawn from any lavaan model, on each item's own scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.stats.sem import ModelError, fit_model
from app.stats.simulate import simulate_model

CHAIN = """
A =~ a1 + a2 + a3
B =~ b1 + b2 + b3
C =~ c1 + c2 + c3
B ~ A
C ~ lab*B
ind := lab*2
"""
SEVEN = {f"{x}{k}": (1, 7) for x in "abc" for k in (1, 2, 3)}


def test_reproducible_columns_types_and_scales() -> None:
    scales = {**SEVEN, "c1": (1, 10), "c2": (1, 10), "c3": (1, 10), "n": (0, 10)}
    a = simulate_model(CHAIN, 5000, seed=3, scales=scales, extra_items={"n": "C"})
    b = simulate_model(CHAIN, 5000, seed=3, scales=scales, extra_items={"n": "C"})
    c = simulate_model(CHAIN, 5000, seed=4, scales=scales, extra_items={"n": "C"})
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert list(a.columns) == [*SEVEN, "n"]
    for code, (lo, hi) in scales.items():
        assert str(a[code].dtype) == "Int64"
        assert not a[code].isna().any()
        assert set(a[code].unique()) == set(range(lo, hi + 1)), code  # every point is used
    # answers sit a little above the midpoint, as real satisfaction data do
    assert 4.0 < a["a1"].mean() < 5.0
    assert 5.5 < a["c1"].mean() < 7.0
    assert 5.0 < a["n"].mean() < 7.0


def test_structure_is_recovered() -> None:
    frame = simulate_model(CHAIN, 8000, seed=1, scales=SEVEN).astype("float64")
    corr = frame.corr()
    within = corr.loc["a1", "a2"]
    assert within > 0.4
    # A acts on C only through B: a-c correlations are weaker than a-b correlations
    assert corr.loc["a1", "c1"] < corr.loc["a1", "b1"] < within
    assert corr.loc["a1", "c1"] > 0
    result = fit_model(frame, CHAIN, missing="listwise")
    assert result.converged and result.fit["cfi"] > 0.99
    paths = {(e.lhs, e.rhs): e.std_all for e in result.estimates if e.op == "~"}
    # standardised paths come from path_range (0.25-0.50); rounding to 7 points costs a little
    assert all(0.2 < v < 0.55 for v in paths.values()), paths
    loadings = [e.std_all for e in result.estimates if e.op == "=~"]
    assert all(0.6 < v < 0.9 for v in loadings), loadings


def test_explained_variance_is_capped() -> None:
    model = "\n".join(
        [f"X{k} =~ x{k}a + x{k}b + x{k}c" for k in range(6)]
        + ["Y =~ y1 + y2 + y3", "Y ~ " + " + ".join(f"X{k}" for k in range(6))]
    )
    scales = {f"x{k}{s}": (1, 7) for k in range(6) for s in "abc"}
    scales.update({f"y{k}": (1, 7) for k in (1, 2, 3)})
    frame = simulate_model(model, 6000, seed=2, scales=scales, max_r2=0.6).astype("float64")
    result = fit_model(frame, model, missing="listwise")
    assert result.converged
    assert 0.5 < result.r2["Y"] < 0.7


def test_extra_item_reflects_its_latent() -> None:
    frame = simulate_model(
        CHAIN, 5000, seed=5, scales={**SEVEN, "n": (0, 10)}, extra_items={"n": "C"}
    )
    corr = frame.astype("float64").corr()
    assert corr.loc["n", "c1"] > 0.4
    assert corr.loc["n", "c1"] > corr.loc["n", "a1"]


@pytest.mark.parametrize(
    ("model", "scales", "extra", "error", "message"),
    [
        ("A =~ a1 + a2 + a3\nA ~ x", {"a1": (1, 7), "a2": (1, 7), "a3": (1, 7)}, None,
         ModelError, "only paths between latents"),
        ("A =~ a1 + a2\nB =~ b1 + b2\nA ~ B\nB ~ A",
         {"a1": (1, 7), "a2": (1, 7), "b1": (1, 7), "b2": (1, 7)}, None,
         ModelError, "non-recursive"),
        ("A =~ a1 + a2\nB =~ b1 + b2\nG =~ A + B",
         {"a1": (1, 7), "a2": (1, 7), "b1": (1, 7), "b2": (1, 7)}, None,
         ModelError, "higher-order"),
        ("A =~ a1 + a2 + ", {}, None, ModelError, "empty term"),
        (CHAIN, {k: v for k, v in SEVEN.items() if k != "b2"}, None, ValueError, "b2"),
        (CHAIN, {**SEVEN, "a1": (3, 3)}, None, ValueError, "a1"),
        (CHAIN, {**SEVEN, "n": (0, 10)}, {"n": "Z"}, ValueError, "unknown latents: Z"),
    ],
)  # fmt: skip
def test_errors(model, scales, extra, error, message) -> None:
    with pytest.raises(error, match=message):
        simulate_model(model, 10, seed=1, scales=scales, extra_items=extra)


def test_empty_and_bad_arguments() -> None:
    assert simulate_model(CHAIN, 0, seed=1, scales=SEVEN).shape == (0, 9)
    with pytest.raises(ValueError, match="n must be"):
        simulate_model(CHAIN, -1, seed=1, scales=SEVEN)
    with pytest.raises(ValueError, match="loadings"):
        simulate_model(CHAIN, 5, seed=1, scales=SEVEN, loading_range=(0.5, 1.2))
    with pytest.raises(ValueError, match="max_r2"):
        simulate_model(CHAIN, 5, seed=1, scales=SEVEN, max_r2=1.0)
    assert np.isfinite(simulate_model(CHAIN, 5, seed=1, scales=SEVEN).astype(float)).all().all()
