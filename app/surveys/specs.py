"""The frozen instrument definition a survey is pinned to (stored in the database, not the file)."""

from __future__ import annotations

import json
from functools import lru_cache

from app.instruments.registry import parse_instrument
from app.instruments.spec import InstrumentSpec
from app.surveys.models import Instrument, Survey


@lru_cache(maxsize=64)
def _spec_from_definition(key: tuple[str, int, str], definition_json: str) -> InstrumentSpec:
    return parse_instrument(json.loads(definition_json), source=f"{key[0]} v{key[1]}")


def instrument_spec(instrument: Instrument) -> InstrumentSpec:
    """The frozen definition stored with an instrument version (not today's file)."""
    key = (instrument.id, instrument.version, instrument.content_hash)
    return _spec_from_definition(key, json.dumps(instrument.definition, sort_keys=True))


def survey_spec(survey: Survey) -> InstrumentSpec:
    return instrument_spec(survey.instrument)
