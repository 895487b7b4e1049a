"""ORM: maintained sufficient statistics of respondent construct scores.

One row per survey x branch x customer_type x tenure x month x construct holds ``n``, ``sum`` and
``sumsq`` of the respondents' construct scores, so every index, CI and Welch test of the
operators' pages is a ``GROUP BY`` over a few thousand rows instead of a read of all responses.
The pseudo-construct ``*`` counts responses (its ``sum``/``sumsq`` stay 0). Missing
customer_type/tenure are stored as ``''`` because key columns cannot be NULL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Double, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

COUNT_CONSTRUCT = "*"


class ScoreAggregate(Base):
    __tablename__ = "score_aggregates"
    __table_args__ = (
        Index("ix_score_aggregates_survey_construct", "survey_id", "construct", "branch_id"),
    )

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True
    )
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    customer_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenure: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM of submitted_at, UTC
    construct: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    sum: Mapped[float] = mapped_column(Double, default=0.0)
    sumsq: Mapped[float] = mapped_column(Double, default=0.0)


class ScoreRollup(Base):
    """The same sums rolled up along one dimension, so the common queries read a few thousand
    rows: ``dim`` is ``all`` (key ``''``), ``customer_type``, ``tenure`` or ``month``, always kept
    per branch (branch scopes and filters need it)."""

    __tablename__ = "score_rollups"

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True
    )
    dim: Mapped[str] = mapped_column(String(16), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    construct: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    sum: Mapped[float] = mapped_column(Double, default=0.0)
    sumsq: Mapped[float] = mapped_column(Double, default=0.0)
