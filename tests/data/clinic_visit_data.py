"""Writes tests/data/clinic_visit_800.csv: 800 simulated answers to tests/data/clinic-visit.yaml
in the CSV import format (fixed seed; run from the repository root:
``python tests/data/clinic_visit_data.py``). The answers come from the instrument's default model
(app.stats.simulate.simulate_model, REC reflecting SATIS); WAIT3 is "not applicable" (NA) for 10%
and not answered (empty) for 5% of the rows; age_band is not answered for some rows;
tests/data/clinic_visit.R computes R's references on this file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.instruments.registry import load_instrument
from app.stats.simulate import simulate_model

HERE = Path(__file__).resolve().parent
N, SEED = 800, 20261130


def csv_text() -> str:
    """The file's content (the same on every run: fixed seeds)."""
    spec = load_instrument(HERE / "clinic-visit.yaml")
    scales = {c: (spec.item_scale(c).min, spec.item_scale(c).max) for c in spec.numeric_codes}
    frame = simulate_model(
        spec.default_model, N, seed=SEED, scales=scales, extra_items={"REC": "SATIS"}
    ).astype(object)
    rng = np.random.default_rng(SEED)
    wait3 = rng.random(N)
    frame.loc[wait3 < 0.10, "WAIT3"] = "NA"
    frame.loc[(wait3 >= 0.10) & (wait3 < 0.15), "WAIT3"] = ""
    frame["REASON"] = rng.choice(["checkup", "illness", "followup"], N)
    notes = ["", "", "", "Plus de places de parking", "Más horarios, por favor", "待ち時間を短く"]
    frame["COMMENT"] = rng.choice(notes, N)
    frame.insert(0, "branch", rng.choice(["BR01", "BR02", "BR03", "BR04"], N))
    frame.insert(1, "insurance", rng.choice(["public", "private"], N, p=[0.6, 0.4]))
    ages = rng.choice(["under_40", "from_40_64", "over_64", ""], N, p=[0.3, 0.35, 0.3, 0.05])
    frame.insert(2, "age_band", ages)
    frame.insert(3, "department", rng.choice(["cardio", "derma", "general", "pediatrics"], N))
    frame.insert(4, "lang", rng.choice(spec.languages, N))
    columns = ["branch", "insurance", "age_band", "department", "lang", *spec.item_codes]
    return str(frame[columns].to_csv(index=False, lineterminator="\n"))


def main() -> None:
    (HERE / "clinic_visit_800.csv").write_text(csv_text(), encoding="utf-8")


if __name__ == "__main__":
    main()
