"""Recipients from CSV: a header row with ``email`` or ``phone``, ``branch``, optional
``lang``; every other column is an attribute of the recipient (empty cells are left out)."""

from __future__ import annotations

import csv
import io
from typing import Any

from app.errors import InvalidInput, field_error

CONTACT_COLUMNS = ("email", "phone", "branch", "lang")
MAX_BYTES = 5_000_000


def recipients_from_csv(data: bytes) -> list[dict[str, Any]]:
    """Recipient objects (as the JSON body has them) from CSV bytes (UTF-8, BOM allowed)."""
    if len(data) > MAX_BYTES:
        raise InvalidInput([field_error("recipients", msg=f"at most {MAX_BYTES} bytes of CSV")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput([field_error("recipients", msg="the CSV must be UTF-8")]) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if "branch" not in header or not ({"email", "phone"} & set(header)):
        msg = "the CSV needs a header row with branch and email or phone"
        raise InvalidInput([field_error("recipients", msg=msg)])
    reader.fieldnames = header
    out = []
    for row in reader:
        cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
        recipient: dict[str, Any] = {c: cells[c] for c in CONTACT_COLUMNS if cells.get(c)}
        recipient["branch"] = cells.get("branch", "")
        recipient["attributes"] = {
            k: v for k, v in cells.items() if k not in CONTACT_COLUMNS and k and v
        }
        out.append(recipient)
    return out
