"""Filling in any questionnaire in Chromium the way a respondent does: page by page, clicking
the label of an answer (scale and 0-10 items, single and multiple choice, attributes), typing
into open-text boxes, Next until the last page, then Submit. Used by the tests that field an
unseen instrument and every bundled one."""

from __future__ import annotations

from typing import Any

from app.instruments.spec import InstrumentSpec


def answer_page(page: Any, spec: InstrumentSpec, k: int) -> dict[str, Any]:
    """Answer every question the current page shows (respondent ``k`` picks the k-th option of
    each, "not applicable" where an item allows it and k is a multiple of 3); the answers as
    the API would store them."""
    chosen: dict[str, Any] = {}
    names = page.eval_on_selector_all(
        "form.survey input[type=radio], form.survey input[type=checkbox], form.survey textarea",
        "els => [...new Set(els.map(e => e.name))]",
    )
    items = spec.items_by_code
    attributes = {a.code: a for a in spec.attributes}
    for n, name in enumerate(names):
        item = items.get(name)
        if item is not None and item.type == "text":
            text = f"Réponse {k}, «ok» — 好"
            page.fill(f'textarea[name="{name}"]', text)
            chosen[name] = text
            continue
        if item is not None and item.allow_na and (k + n) % 3 == 0:
            value: Any = "na"
        elif item is not None and item.is_numeric:
            values = spec.item_scale(item).values
            value = values[(k + n) % len(values)]
        elif item is not None:
            value = item.options[(k + n) % len(item.options)].code
        else:
            options = attributes[name].codes
            value = options[(k + n) % len(options)]
        page.click(f'label:has(input[name="{name}"][value="{value}"])')
        if item is not None and item.type == "multiple":
            value = [value]
        chosen[name] = value
    return chosen


def field_all_pages(page: Any, spec: InstrumentSpec, k: int) -> dict[str, Any]:
    """From the first page of a loaded questionnaire to the thanks page; what was answered."""
    chosen: dict[str, Any] = {}
    while True:
        chosen |= answer_page(page, spec, k)
        assert page.locator("p.error").count() == 0, page.locator("main").inner_text()
        last = page.locator(".actions button.submit").count() == 1
        with page.expect_navigation():
            page.click(".actions button.submit" if last else ".actions button.next")
        if last:
            return chosen


def as_stored(spec: InstrumentSpec, code: str, value: Any) -> Any:
    """An answer as the response row keeps it: a single choice by its 1-based option number,
    a multiple choice as a bit mask of its options, anything else as it is."""
    item = spec.items_by_code[code]
    if value == "na" or item.type not in ("single", "multiple"):
        return value
    codes = item.option_codes
    if item.type == "single":
        return codes.index(value) + 1
    return sum(1 << codes.index(v) for v in value)


def check_stored(spec: InstrumentSpec, response: Any, chosen: dict[str, Any]) -> None:
    """``response`` (a stored row) holds exactly what ``chosen`` says was answered."""
    codes = [i.code for i in spec.items if i.type != "text"]  # open text is stored apart
    answers = dict(zip(codes, response.answers, strict=True))
    for code, value in chosen.items():
        if code in spec.attribute_codes:
            assert response.attributes[code] == value, code
        elif spec.items_by_code[code].type == "text":
            assert response.texts[code] == value, code
        else:
            assert answers[code] == as_stored(spec, code, value), code
    assert {c for c in codes if answers[c] is not None} == {c for c in chosen if c in answers}, (
        "an item not answered on the page was stored"
    )
