"""Fit request fields of issue 14: ``group_partial`` (lavaan's group.partial) and
``bootstrap_ci`` for SEM (``perc`` | ``bca``); bad values name the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.fits.schemas import FitCreate


def test_group_partial_is_normalised_and_kept_out_of_old_cache_keys() -> None:
    req = FitCreate(
        group="customer_type",
        group_equal=["loadings", "intercepts"],
        group_partial=["REL1 ~ 1", "TAN =~ TAN2", "REL1~1"],
    )
    assert req.group_partial == ["REL1~1", "TAN=~TAN2"]
    assert req.canonical(model="F =~ a + b + c")["group_partial"] == ["REL1~1", "TAN=~TAN2"]
    plain = FitCreate(group="customer_type").canonical(model="F =~ a + b + c")
    assert "group_partial" not in plain and "bootstrap_ci" not in plain


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"group": "customer_type", "group_partial": ["REL1"]}, "not a parameter like"),
        ({"group": "customer_type", "group_partial": ["REL1 =~ 1"]}, "not a parameter like"),
        ({"group_partial": ["REL1~1"]}, "need a group"),
        ({"bootstrap": 200, "bootstrap_ci": "norm"}, "bootstrap_ci"),
    ],
)
def test_bad_fields_are_refused(fields: dict, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        FitCreate(**fields)


def test_bca_is_accepted_for_sem() -> None:
    req = FitCreate(bootstrap=500, bootstrap_ci="bca")
    assert (req.method, req.bootstrap_ci) == ("sem", "bca")
    assert req.canonical(model="F =~ a + b + c")["bootstrap_ci"] == "bca"
