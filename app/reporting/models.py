"""ORM: maintained sufficient statistics of respondent construct scores, per atomic cell.

One row per survey x branch x month x dimension x value x construct holds ``n``, ``sum`` and
``sumsq`` of the respondents' construct scores (and of the -100/0/100 scores of each nps item,
keyed by the item code), so every index, CI and test of the operators' pages is computed from a
few thousand rows. ``dim`` is ``*`` (the whole branch-month, ``key`` ``''``) or an attribute
code of the instrument (``key`` its value, ``''`` when missing); the pseudo-construct ``*``
counts respondents (its ``sum``/``sumsq`` stay 0). These are the raw cells; every published
number goes through :func:`app.reporting.disclosure.protected_cells` first.

``DisclosureKey`` holds a random key per survey for the secret rounding offsets of the
disclosure control. It lives in the database, not in the settings, so that rotating the
application secret does not re-round every cell on a new grid (two independent roundings of one
sum would narrow it down).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Double, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

COUNT_CONSTRUCT = "*"


class ScoreCell(Base):
    __tablename__ = "score_cells"

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True
    )
    dim: Mapped[str] = mapped_column(String(40), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM of submitted_at, UTC
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    construct: Mapped[str] = mapped_column(String(40), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    sum: Mapped[float] = mapped_column(Double, default=0.0)
    sumsq: Mapped[float] = mapped_column(Double, default=0.0)


class DisclosureKey(Base):
    __tablename__ = "disclosure_keys"

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64))  # 32 random bytes, hex
