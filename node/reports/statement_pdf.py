"""An ESG retirement statement as a bilingual PDF (fpdf2, with the CJK font the node's pages use).

Page one says whose statement it is, for which days, its totals by project kind and by region, the
statement's hash, the node's signing address and signature, and a QR code to the verification page. Then one
row per retirement, each with a QR code to its certificate page. The appendix lists what an auditor needs to
check every line without the node: the transaction and block of each retirement, and for checkout offsets and
campaigns the Merkle root with the number of leaves (the leaves themselves are in the statement's JSON).
"""

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF

from node.api.labels import LABELS
from registry.units import format_co2e

FONT_FILES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
)


def _font() -> Path:
    for path in FONT_FILES:
        if path.exists():
            return path
    raise RuntimeError("no CJK font for statements: install fonts-wqy-microhei (scripts/setup does)")


def _qr(url: str) -> io.BytesIO:
    image = io.BytesIO()
    segno.make(url, error="m").save(image, kind="png", scale=4, border=2)
    image.seek(0)
    return image


def _both(key: str) -> str:
    return f"{LABELS['zh'][key]} / {LABELS['en'][key]}"


class _Statement(FPDF):
    def __init__(self, hash_hex: str) -> None:
        super().__init__(format="A4")
        self.hash_hex = hash_hex
        self.add_font("cjk", fname=str(_font()), collection_font_number=0)
        self.set_auto_page_break(auto=True, margin=16)
        self.set_margins(14, 14, 14)

    def para(self, width: float, height: float, text: str) -> None:
        """Left-aligned text wrapped to `width`; the next one starts on the left margin below it."""
        self.multi_cell(width, height, text, align="L", new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("cjk", size=7)
        self.cell(0, 5, f"{self.hash_hex}    {self.page_no()}/{{nb}}", align="C")


def statement_pdf(statement: dict[str, Any], hash_hex: str, signer: str, signature: str, base_url: str) -> bytes:
    pdf = _Statement(hash_hex)
    pdf.set_creation_date(datetime.fromtimestamp(statement["issued_at"], UTC))  # the statement's time, not now
    pdf.set_title(f"ESG retirement statement {hash_hex}")
    pdf.set_subject(hash_hex)
    pdf.add_page()
    width = pdf.epw
    pdf.set_font("cjk", size=15)
    pdf.para(width, 8, _both("statement_title"))
    pdf.set_font("cjk", size=9)
    period = statement["period"]
    facts = [
        (_both("statement_organisation"), str(statement["organisation"])),
        (_both("statement_period"), f"{period['first_day']} — {period['last_day']} (Asia/Shanghai)"),
        (_both("statement_accounts"), ", ".join(statement["accounts"])),
        (
            _both("statement_total"),
            f"{format_co2e(statement['totals']['quantity_g'])} ({statement['totals']['retirements']})",
        ),
        (
            _both("statement_chain"),
            f"chain {statement['chain']['chain_id']} · {statement['chain']['registry']}"
            f" · block {statement['chain']['indexed_block']}",
        ),
        (_both("statement_hash"), hash_hex),
        (_both("statement_signer"), signer),
        (_both("statement_signature"), signature),
    ]
    verification = f"{base_url}/statements/{hash_hex}"
    top = pdf.get_y() + 2
    pdf.image(_qr(verification), x=pdf.l_margin + width - 32, y=top, w=32, h=32)
    pdf.set_y(top)
    for label, value in facts:
        pdf.set_x(pdf.l_margin)
        pdf.para(width - 36, 4.6, f"{label}: {value}")
    pdf.set_x(pdf.l_margin)
    pdf.para(width, 4.6, f"{_both('statement_verify_at')}: {verification}")
    pdf.ln(2)
    for title, key in (("statement_by_kind", "by_kind"), ("statement_by_region", "by_region")):
        pdf.set_font("cjk", size=11)
        pdf.para(width, 6, _both(title))
        pdf.set_font("cjk", size=9)
        for name, grams in sorted(statement["totals"][key].items()):
            shown = LABELS["zh"]["kinds"].get(name, name) + f" ({name})" if key == "by_kind" else name
            pdf.para(width, 4.6, f"{shown}: {format_co2e(grams)}")
        pdf.ln(1)
    pdf.set_font("cjk", size=11)
    pdf.para(width, 6, _both("statement_lines"))
    pdf.set_font("cjk", size=8)
    for line in statement["lines"]:
        if pdf.get_y() > pdf.h - 50:
            pdf.add_page()
        top = pdf.get_y() + 1
        pdf.image(_qr(line["certificate"]), x=pdf.l_margin, y=top, w=20, h=20)
        pdf.set_y(top)
        text = (
            f"#{line['retirement_id']}  {line['serial']}  {format_co2e(line['quantity_g'])}\n"
            f"{line['project']} (#{line['project_id']}) · {line['kind']} · {line['region']} · {line['method']}"
            f" · {line['vintage']}\n"
            f"{LABELS['zh']['beneficiary']} / beneficiary: {line['beneficiary']}\n"
            f"{LABELS['zh']['reason']} / reason: {line['reason']}\n"
            f"{line['consumption_from']} — {line['consumption_to']} · tx {line['tx_hash']}"
            f" · block {line['block_number']}"
        )
        pdf.set_x(pdf.l_margin + 23)
        pdf.para(width - 23, 4, text)
        pdf.set_y(max(pdf.get_y(), top + 21))
    pdf.add_page()
    pdf.set_font("cjk", size=11)
    pdf.para(width, 6, _both("statement_appendix"))
    pdf.set_font("cjk", size=8)
    pdf.para(width, 4, LABELS["zh"]["statement_appendix_how"])
    pdf.para(width, 4, LABELS["en"]["statement_appendix_how"])
    pdf.para(width, 4, statement["leaf_rule"])
    pdf.ln(2)
    for line in statement["lines"]:
        tree = statement["merkle_trees"].get(line["merkle_root"]) if line["merkle_root"] else None
        merkle = f" · {tree['kind']} root {line['merkle_root']} ({len(tree['leaves'])} leaves)" if tree else ""
        pdf.para(width, 4, f"#{line['retirement_id']} batch {line['batch_id']} · tx {line['tx_hash']}"
                                 f" · block {line['block_number']} · {line['quantity_g']} g{merkle}")  # fmt: skip
    return bytes(pdf.output())
