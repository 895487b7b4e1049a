"""Branch QR codes and posters (issue 17 item 1): each code decodes back to the branch's
questionnaire URL; the poster's text carries the title, invitation, URL and branch name in the
language asked for."""

from __future__ import annotations

import io
from typing import Any

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader

from app.errors import Conflict
from app.surveys import posters
from app.surveys.models import Survey

URL = "/api/v1/surveys/telecom/branches/{code}/{name}"


def _decode_png(data: bytes) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))
    assert len(found) == 1
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(found[0].text)


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in points
    return reader.pages[0].extract_text()


@pytest.fixture
def named(client: TestClient, survey: Survey, admin_headers: dict[str, str]) -> Survey:
    r = client.patch(
        "/api/v1/branches/BR01",
        json={"names": {"zh": "北京朝阳营业厅", "en": "Beijing Chaoyang"}},
        headers=admin_headers,
    )
    assert r.status_code == 200
    return survey


def test_png_decodes_to_the_request_base_url(
    client: TestClient, named: Survey, operator_headers: dict[str, str]
) -> None:
    r = client.get(URL.format(code="BR01", name="qr.png"), headers=operator_headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert _decode_png(r.content) == "http://testserver/s/telecom?branch=BR01"


def test_public_url_setting_is_encoded(
    client: TestClient, named: Survey, operator_headers: dict[str, str]
) -> None:
    client.app.state.settings.public_url = "https://survey.example.cn/pvm/"  # type: ignore[attr-defined]
    r = client.get(
        URL.format(code="BR02", name="qr.png"), params={"scale": 4}, headers=operator_headers
    )
    assert _decode_png(r.content) == "https://survey.example.cn/pvm/s/telecom?branch=BR02"


def test_svg_is_the_same_code_as_the_png(
    client: TestClient, named: Survey, operator_headers: dict[str, str]
) -> None:
    r = client.get(URL.format(code="BR01", name="qr.svg"), headers=operator_headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.lstrip().startswith("<?xml")
    assert "<svg" in r.text
    # segno draws the same matrix for both kinds: rebuild the expected SVG from the URL
    expected = posters.qr_svg("http://testserver/s/telecom?branch=BR01")
    assert r.content == expected
    png = posters.qr_png("http://testserver/s/telecom?branch=BR01")
    assert _decode_png(png) == "http://testserver/s/telecom?branch=BR01"


@pytest.mark.parametrize(
    ("lang", "title", "invitation", "branch"),
    [
        ("zh", "电信客户感知价值调查", "扫描二维码", "北京朝阳营业厅"),
        ("en", "Telecom customer perceived value survey", "Scan the code", "Beijing Chaoyang"),
    ],
)
def test_poster_in_each_language(
    client: TestClient,
    named: Survey,
    operator_headers: dict[str, str],
    lang: str,
    title: str,
    invitation: str,
    branch: str,
) -> None:
    r = client.get(
        URL.format(code="BR01", name="poster.pdf"), params={"lang": lang}, headers=operator_headers
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert f"telecom-BR01-{lang}.pdf" in r.headers["content-disposition"]
    text = " ".join(_pdf_text(r.content).split())  # lines of a wrapped title joined
    assert "http://testserver/s/telecom?branch=BR01" in text
    assert branch in text
    assert invitation in text
    assert title in text


def test_poster_defaults_to_the_first_language(
    client: TestClient, named: Survey, operator_headers: dict[str, str]
) -> None:
    r = client.get(URL.format(code="BR01", name="poster.pdf"), headers=operator_headers)
    assert "北京朝阳营业厅" in _pdf_text(r.content)


def test_unknown_language_is_422_naming_lang(
    client: TestClient, named: Survey, operator_headers: dict[str, str]
) -> None:
    r = client.get(
        URL.format(code="BR01", name="poster.pdf"), params={"lang": "it"}, headers=operator_headers
    )
    assert r.status_code == 422
    assert "lang" in r.text and "it" in r.text


def test_unknown_branch_and_survey_are_404(
    client: TestClient, named: Survey, operator_headers: dict[str, str]
) -> None:
    for name in ("qr.svg", "qr.png", "poster.pdf"):
        r = client.get(URL.format(code="BR99", name=name), headers=operator_headers)
        assert r.status_code == 404
        r = client.get(f"/api/v1/surveys/nope/branches/BR01/{name}", headers=operator_headers)
        assert r.status_code == 404


def test_scoped_key_sees_only_its_branches(
    client: TestClient, named: Survey, operator_br01_headers: dict[str, str]
) -> None:
    for name in ("qr.svg", "qr.png", "poster.pdf"):
        assert (
            client.get(
                URL.format(code="BR01", name=name), headers=operator_br01_headers
            ).status_code
            == 200
        )
        r = client.get(URL.format(code="BR02", name=name), headers=operator_br01_headers)
        assert r.status_code == 403


def test_no_cjk_font_latin_poster_still_drawn_cjk_refused_clearly() -> None:
    text = posters.PosterText(
        title="Customer survey",
        invitation="Scan the code",
        branch_name="Branch one",
        url="http://x/s/a",
    )
    assert "Branch one" in _pdf_text(posters.poster_pdf(text, font=None))
    cjk = posters.PosterText(
        title="客户调查", invitation="扫描", branch_name="一号厅", url="http://x/s/a"
    )
    with pytest.raises(Conflict, match="PVM_POSTER_FONT"):
        posters.poster_pdf(cjk, font=None)


def test_poster_font_setting_must_name_a_file(tmp_path: Any) -> None:
    with pytest.raises(Conflict, match="PVM_POSTER_FONT"):
        posters.poster_font(str(tmp_path / "missing.ttf"))
