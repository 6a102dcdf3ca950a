"""CSV downloads a person opens in a spreadsheet: a UTF-8 byte-order mark (so a spreadsheet reads Chinese),
a header row even when there is no row, the unit in the header of every quantity, times in ISO 8601 with
their offset, regions as text and structured values as JSON."""

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, get_args, get_origin
from zoneinfo import ZoneInfo

import orjson
from fastapi.responses import Response
from pydantic import BaseModel

BOM = "\ufeff"
# Integer grams of CO2e: the ledger's unit.
GRAM_COLUMNS = {"quantity", "amount", "retired", "reversed", "buffer_amount", "issued", "transferred", "outstanding",
                "paid_grams", "total_grams"}  # fmt: skip
# Seconds since the epoch.
TIME_COLUMNS = {"period_start", "period_end", "consumption_start", "consumption_end", "valid_from", "valid_until",
                "listed_at", "created_at", "at", "expires_at", "issued_until"}  # fmt: skip


def unit_of(column: str) -> str | None:
    if column in GRAM_COLUMNS or column.endswith("_grams"):
        return "gCO2e"
    if column.endswith("_fen"):
        return "fen"
    if column.endswith("_bps"):
        return "basis points"
    if column in TIME_COLUMNS or column.endswith("_time"):
        return "ISO 8601"
    return None


def header(column: str) -> str:
    """`quantity` → `quantity (gCO2e)`; a column without a unit keeps its name."""
    unit = unit_of(column)
    return f"{column} ({unit})" if unit else column


def region_text(value: str) -> str:
    """A region as the ledger stores it (bytes16, hex, zero-padded ASCII) as its text: 0x434e2d5a4a00… → CN-ZJ."""
    if not value.startswith("0x"):
        return value
    try:
        return bytes.fromhex(value[2:]).rstrip(b"\0").decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return value


def cell(column: str, value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if unit_of(column) == "ISO 8601" and isinstance(value, int):
        return datetime.fromtimestamp(value, zone).isoformat()
    if column == "region" and isinstance(value, str):
        return region_text(value)
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def scalar_fields(model: type[BaseModel]) -> list[str]:
    """A response model's fields that are one value each (not nested records or lists): the CSV's columns."""
    columns = []
    for name, field in model.model_fields.items():
        kinds = get_args(field.annotation) if get_origin(field.annotation) else (field.annotation,)
        nested = any(isinstance(kind, type) and issubclass(kind, (BaseModel, dict, list)) for kind in kinds)
        if not nested and get_origin(field.annotation) not in (list, dict):
            columns.append(name)
    return columns


def csv_response(rows: Iterable[dict[str, Any]], name: str, columns: Sequence[str], zone: ZoneInfo) -> Response:
    """The rows as an attachment `name`.csv with exactly these columns, in this order."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([header(column) for column in columns])
    for row in rows:
        writer.writerow([cell(column, row.get(column), zone) for column in columns])
    return Response(
        buffer.getvalue(),
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": f'attachment; filename="{name}.csv"',
        },
    )
