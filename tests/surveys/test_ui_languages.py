"""The respondent pages' own texts beyond zh and en (issue 13 item 8: messages in the page's
language): pvm has German, French, Spanish and Japanese texts; an instrument's `ui` overrides
them; a language pvm lacks falls back to English text by text."""

from __future__ import annotations

from app.instruments.registry import load_instrument
from app.surveys.questionnaire import language_name, ui_strings
from tests.conftest import DATA_DIR

VISIT = load_instrument(DATA_DIR / "paged_instrument.yaml")  # de (partial ui), en, zh


def test_pvm_speaks_more_than_zh_and_en() -> None:
    expected = {
        "de": "Bitte beantworten Sie diese Frage.",
        "fr": "Veuillez répondre à cette question.",
        "es": "Responda a esta pregunta.",
        "ja": "この質問に回答してください。",
    }
    for lang, text in expected.items():
        assert ui_strings(lang)["err_required"] == text
        assert "{min}" in ui_strings(lang)["err_range"] and "{max}" in ui_strings(lang)["err_range"]
    assert ui_strings("de-CH")["next"] == "Weiter"  # the primary language serves a region
    assert ui_strings("zh-TW")["next"] == "Next"  # never simplified Chinese for another script
    assert ui_strings("it")["next"] == "Next"
    assert language_name("ja") == "日本語"


def test_an_instrument_overrides_pvm_texts() -> None:
    texts = ui_strings("de", VISIT)
    assert texts["thanks_heading"] == "Vielen Dank!"  # the instrument's
    assert (
        texts["err_branch"] == "Bitte wählen Sie eine Filiale."
    )  # pvm's (the instrument has none)
