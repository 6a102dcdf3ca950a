"""HTML pages for people, in Chinese and English: a batch's provenance and a retirement certificate.
Each page re-checks the batch against the chain when it is rendered and says so."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Query, Request
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from node.api.deps import ReaderDep, ServicesDep, parse_cursor
from node.api.errors import not_found
from node.index.queries import get_batch, get_retirement
from node.projects.issuance import backing
from node.projects.provenance import chain_check, provenance
from registry.units import format_tonnes

router = APIRouter(tags=["pages"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
Lang = Annotated[str, Query(pattern=r"^(zh|en)$")]

TEXT: dict[str, dict[str, Any]] = {
    "zh": {
        "brand": "园林碳汇溯源",
        "other_language": "English",
        "batch": "碳汇批次",
        "certificate": "证书信息",
        "active": "状态：有效",
        "frozen": "状态：已冻结——监管机构已暂停该批次的转让和注销",
        "revoked": "状态：已撤销——该批次经核查无效，不能转让或注销",
        "checked": "已于区块 {block} 与链上数据核对一致",
        "mismatch": "与链上数据不一致（区块 {block}，链上状态：{status}）",
        "quantity": "签发量",
        "outstanding": "流通量",
        "retired": "已注销",
        "buffer": "缓冲池留存",
        "period": "监测期",
        "serials": "序列号",
        "project": "项目",
        "owner": "项目业主",
        "verification": "核查与签发",
        "verifier": "核查机构",
        "evidence_root": "证据根哈希",
        "attested_by": "证据证明签署方",
        "files": "个文件",
        "digest": "核查声明摘要",
        "issued": "签发",
        "block": "区块",
        "history": "流转记录",
        "when": "时间",
        "event": "事件",
        "amount": "数量",
        "tx": "交易",
        "more": "更多记录",
        "scan": "扫码查看",
        "names": {
            "BatchIssued": "签发",
            "CertificateTransferred": "转让",
            "CertificateRetired": "注销",
            "BatchStatusChanged": "状态变更",
            "ReversalRecorded": "缓冲池冲销",
        },
        "retirement_certificate": "碳汇注销证明",
        "retired_final": "已注销：这些碳汇已永久注销，不会再流转",
        "beneficiary": "受益方",
        "private": "（受益方选择不公开，哈希）",
        "reason": "注销原因",
        "consumption": "消费期间与地区",
        "retired_on": "注销时间",
        "not_ccer": "本证书为自愿减排/碳普惠园林碳汇，不属于国家核证自愿减排量（CCER）："
        "CCER-14-001 方法学不含城市绿化。",
        "accounting": "碳汇核算",
        "method": "方法学",
        "net": "净碳汇（扣除缓冲前）",
        "report_buffer": "核算中的缓冲池扣除",
        "pools": "各碳库计入量",
        "maintenance": "养护排放",
        "input_hash": "输入数据哈希",
        "backing": "签发量与核算结果",
        "backing_issued": "链上签发量",
        "backing_computed": "本节点依监测数据核算",
        "backing_none": "本节点无监测报告",
        "backing_warning": {
            "differs": "警告：链上签发量与本节点依监测数据核算的结果不符。该批次的核查声明可能未经本节点签署或发送。",
            "no_report": "警告：本节点没有该批次证据对应的监测报告，无法核对其签发量。该批次可能未经本节点核算即签发。",
        },
    },
    "en": {
        "brand": "Garden carbon-sink provenance",
        "other_language": "中文",
        "batch": "Batch",
        "certificate": "Certificate",
        "active": "Status: active",
        "frozen": "Status: FROZEN: a regulator has suspended transfers and retirements",
        "revoked": "Status: REVOKED: this batch was found invalid and can neither move nor be retired",
        "checked": "Re-checked against the chain at block {block}: consistent",
        "mismatch": "Does NOT match the chain (block {block}, status on chain: {status})",
        "quantity": "Issued",
        "outstanding": "Outstanding",
        "retired": "Retired",
        "buffer": "Held in the buffer pool",
        "period": "Monitoring period",
        "serials": "Serial range",
        "project": "Project",
        "owner": "Project owner",
        "verification": "Verification and issuance",
        "verifier": "Verifier",
        "evidence_root": "Evidence root",
        "attested_by": "Evidence attested by",
        "files": "files",
        "digest": "Verification digest",
        "issued": "Issued",
        "block": "block",
        "history": "History",
        "when": "When",
        "event": "Event",
        "amount": "Amount",
        "tx": "Transaction",
        "more": "More events",
        "scan": "Scan to open",
        "names": {
            "BatchIssued": "Issued",
            "CertificateTransferred": "Transferred",
            "CertificateRetired": "Retired",
            "BatchStatusChanged": "Status changed",
            "ReversalRecorded": "Buffer reversal",
        },
        "retirement_certificate": "Retirement certificate",
        "retired_final": "Retired: these units are cancelled for good",
        "beneficiary": "Beneficiary",
        "private": "(kept private by the holder; hash)",
        "reason": "Reason",
        "consumption": "Consumption period and region",
        "retired_on": "Retired",
        "not_ccer": "A voluntary, carbon-inclusion (碳普惠) green-space sink certificate, not a CCER credit: "
        "CCER-14-001 excludes urban greening.",
        "accounting": "Carbon accounting",
        "method": "Method",
        "net": "Net sink (before buffer)",
        "report_buffer": "Buffer in the accounting",
        "pools": "Credited by pool",
        "maintenance": "Maintenance emissions",
        "input_hash": "Input data hash",
        "backing": "Issued and computed",
        "backing_issued": "Issued on chain",
        "backing_computed": "Computed by this node from the monitoring data",
        "backing_none": "no monitoring report on this node",
        "backing_warning": {
            "differs": "Warning: the quantity issued on chain is not what this node computes from the monitoring data."
            " The verification statement may have been signed or sent without this node.",
            "no_report": "Warning: this node holds no monitoring report for this batch's evidence, so its quantity"
            " cannot be checked. The batch may have been issued without this node.",
        },
    },
}


def _tonnes(grams: int | None) -> str:
    return "" if grams is None else format_tonnes(int(grams))


def _share(bps: int | None) -> str:
    """Basis points as an exact percentage: 2000 → "20 %", 1250 → "12.5 %"."""
    if bps is None:
        return ""
    whole, rest = divmod(int(bps), 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".") + " %"


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _qr_svg(url: str) -> str:
    return segno.make(url, error="m").svg_inline(scale=4, border=2)


def _page(request: Request, template: str, lang: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"lang": lang, "t": TEXT[lang], "tonnes": _tonnes, "share": _share, "day": _day, "time": _time, **context},
    )


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(
    request: Request,
    batch_id: Annotated[int, ApiPath(ge=1, le=2**63 - 1)],
    services: ServicesDep,
    reader: ReaderDep,
    lang: Lang = "zh",
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    record = provenance(services, reader, batch_id, after=parse_cursor(cursor), limit=100, check_chain=True)
    url = f"{services.settings.base_url}/batches/{batch_id}"
    return _page(
        request,
        "batch.html",
        lang,
        title=record["batch"]["serial_prefix"],
        batch=record["batch"],
        project=record["project"],
        evidence=record["evidence"],
        accounting=record["accounting"],
        events=record["events"],
        next_cursor=record["next_cursor"],
        check=record["chain_check"],
        backing=backing(services, record["batch"]),
        qr_svg=_qr_svg(url),
    )


@router.get("/retirements/{retirement_id}", response_class=HTMLResponse)
def retirement_page(
    request: Request,
    retirement_id: Annotated[int, ApiPath(ge=1, le=2**63 - 1)],
    services: ServicesDep,
    reader: ReaderDep,
    lang: Lang = "zh",
) -> HTMLResponse:
    record = get_retirement(connection=reader, retirement_id=retirement_id)
    if record is None:
        raise not_found(f"retirement {retirement_id}")
    batch = get_batch(connection=reader, batch_id=record["batch_id"])
    assert batch is not None
    chain_check(services, batch)
    region = bytes.fromhex(record["region"][2:]).rstrip(b"\0").decode("ascii", errors="replace")
    url = f"{services.settings.base_url}/retirements/{retirement_id}"
    return _page(
        request,
        "retirement.html",
        lang,
        title=f"#{retirement_id}",
        r=record,
        batch=batch,
        region=region,
        qr_svg=_qr_svg(url),
    )
