"""Plausibility of monitoring data on the node (registry.plausibility): the checks run on every upload against
what the project already had issued, the flags a report carries, and the verifier's acknowledgement of them.

The project's issued reports are the evidence roots of its batches in the index; each one's monitoring data is
read back from its attested bundle (encrypted at rest) and its census summaries from the computation this
node stored. A report with flags can be signed for (POST /v1/verifications) and issued (POST /v1/batches)
only once the verifier has signed `FlagsAcknowledged(evidenceRoot, flagsHash)` (node.chain.flags) over the
keccak of the canonical flags JSON; the acknowledgement is kept as a small JSON beside the evidence
(<evidence>/acknowledgements/<root>-<verifier>.json), no contract involved.
"""

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from eth_utils import keccak

from node.chain.eip712 import Signature
from node.chain.flags import recover_acknowledger, sign_acknowledgement
from node.errors import Conflict, EvidenceError, Forbidden, InvalidRequest, not_found
from node.evidence.bundle import load_bundle
from node.private import private_dir, private_temp
from node.services import Services
from registry.accounting import AccountingInputError, MonitoringData, parse_monitoring
from registry.plausibility import PlausibilityRefused, census_summary, flags_document, require_plausible

REPORT_FILE = "monitoring.json"  # as node.projects.monitoring names the uploaded data in its bundle
ACKNOWLEDGEMENTS = "acknowledgements"


# on upload ---------------------------------------------------------------------------------------


def stored_monitoring(services: Services, evidence_root: str) -> MonitoringData | None:
    """The monitoring data behind an evidence root, read back from its attested bundle; None if there is none
    (or it no longer parses)."""
    try:
        bundle = load_bundle(services.evidence, evidence_root)
        item = next((f for f in bundle.files if f.name == REPORT_FILE), None)
        if item is None:
            return None
        return parse_monitoring(json.loads(services.evidence.get(item.digest))["report"])
    except (EvidenceError, AccountingInputError, KeyError, ValueError):
        return None


def _issued_roots(reader: sqlite3.Connection, project_id: int) -> list[str]:
    """The project's batches' evidence roots, the latest period first."""
    rows = reader.execute(
        "SELECT evidence_root FROM batch WHERE project_id = ? ORDER BY period_end DESC, id DESC", (project_id,)
    )
    return list(dict.fromkeys(str(r[0]).lower() for r in rows))


def check_upload(
    services: Services, reader: sqlite3.Connection, *, project_id: int, monitoring: MonitoringData
) -> dict[str, Any]:
    """The report's plausibility section (flags and census summaries); InvalidRequest with the refusal's code
    (422) when the data is refused. Reads only: nothing is stored here."""
    roots = _issued_roots(reader, project_id)
    previous = stored_monitoring(services, roots[0]) if roots else None
    censuses = []
    for root in roots:
        record = services.state.accounting(root)
        census = (record or {}).get("result", {}).get("plausibility", {}).get("census")
        if census is None:  # a report computed before these checks: summarise its data now
            data = previous if root == roots[0] else stored_monitoring(services, root)
            if data is None:
                continue
            census = {"t1": census_summary(data.trees_t1), "t2": census_summary(data.trees_t2)}
        censuses.append((census["t1"], census["t2"]))
    try:
        # The report's own tree area (trees.area_m2, when given) for stems per hectare.
        return require_plausible(
            monitoring, previous, issued_censuses=censuses, tree_area_m2=monitoring.tree_area_m2
        ).as_dict()
    except PlausibilityRefused as refused:
        raise InvalidRequest(refused.code, str(refused)) from None


# flags and their acknowledgement -----------------------------------------------------------------


def canonical_flags(section: dict[str, Any]) -> bytes:
    """The flags as the verifier acknowledges them: sorted keys, no spaces, UTF-8."""
    return json.dumps(flags_document(section), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def flags_hash(section: dict[str, Any]) -> str:
    return "0x" + keccak(canonical_flags(section)).hex()


def _section(services: Services, evidence_root: str) -> tuple[dict[str, Any], dict[str, Any]]:
    record = services.state.accounting(evidence_root)
    if record is None:
        raise not_found(f"monitoring report {evidence_root}")
    return record, record["result"].get("plausibility") or {}


def _ack_path(services: Services, evidence_root: str, verifier: str) -> Path:
    root, who = evidence_root.lower().removeprefix("0x"), verifier.lower().removeprefix("0x")
    return services.evidence.directory / ACKNOWLEDGEMENTS / f"{root}-{who}.json"


def acknowledgement(services: Services, evidence_root: str, verifier: str) -> dict[str, Any] | None:
    path = _ack_path(services, evidence_root, verifier)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _acknowledgements(services: Services, evidence_root: str | None = None) -> list[dict[str, Any]]:
    folder = services.evidence.directory / ACKNOWLEDGEMENTS
    pattern = f"{evidence_root.lower().removeprefix('0x')}-*.json" if evidence_root else "*.json"
    return sorted(
        (json.loads(p.read_text()) for p in folder.glob(pattern)), key=lambda a: (a["acknowledged_at"], a["verifier"])
    )


def report_flags(services: Services, evidence_root: str) -> dict[str, Any]:
    """What a verifier reads before signing: the report's flags, their hash and who acknowledged them."""
    record, section = _section(services, evidence_root.lower())
    return {
        "evidence_root": record["evidence_root"],
        "project_id": record["project_id"],
        "creditable_grams": record["creditable_grams"],
        "flags": section.get("flags", []),
        "flag_counts": section.get("flag_counts", {}),
        "flags_total": section.get("flags_total", 0),
        "flags_hash": flags_hash(section),
        "acknowledgement_required": bool(section.get("flags_total")),
        "acknowledgements": _acknowledgements(services, record["evidence_root"]),
    }


def acknowledge_flags(
    services: Services,
    *,
    verifier: str,
    key_name: str,
    evidence_root: str,
    claimed_hash: str,
    signature: Signature | None,
) -> dict[str, Any]:
    """Records a verifier's FlagsAcknowledged signature (made by the node with the verifier's key when none is
    sent). The hash the verifier read must be the report's; a sent signature must recover to the verifier."""
    root = evidence_root.lower()
    record, section = _section(services, root)
    expected = flags_hash(section)
    if claimed_hash.lower() != expected:
        raise Conflict("flags_changed", f"the flags of {root} hash to {expected}, not {claimed_hash}: read them again")
    domain = services.registry.domain()
    root_bytes, hash_bytes = bytes.fromhex(root[2:]), bytes.fromhex(expected[2:])
    if signature is None:
        signature = sign_acknowledgement(services.account(key_name), domain, root_bytes, hash_bytes)
    elif recover_acknowledger(domain, root_bytes, hash_bytes, signature) != verifier.lower():
        raise Forbidden("bad_acknowledgement", "the acknowledgement is not signed by the calling verifier")
    entry = {
        "evidence_root": root,
        "project_id": record["project_id"],
        "verifier": verifier.lower(),
        "flags_hash": expected,
        "flags_total": section.get("flags_total", 0),
        "signature": {"v": signature.v, "r": "0x" + signature.r.hex(), "s": "0x" + signature.s.hex()},
        "acknowledged_at": int(time.time()),
    }
    path = _ack_path(services, root, verifier)
    with private_temp(private_dir(path.parent), "ack") as (tmp, sink):
        sink.write(json.dumps(entry, sort_keys=True).encode())
        sink.flush()
        os.replace(tmp, path)
    return entry


def require_flags_acknowledged(services: Services, *, evidence_root: str, verifier: str) -> None:
    """Refuses (409 flags_not_acknowledged) a statement by `verifier` over a report whose flags that verifier
    has not acknowledged, over exactly these flags. Reports without flags (or unknown here) pass."""
    record = services.state.accounting(evidence_root.lower())
    section = (record or {}).get("result", {}).get("plausibility") or {}
    if not section.get("flags_total"):
        return
    found = acknowledgement(services, evidence_root, verifier)
    if found is None or found.get("flags_hash") != flags_hash(section):
        raise Conflict(
            "flags_not_acknowledged",
            f"the monitoring report {evidence_root.lower()} has {section['flags_total']} plausibility flags: the "
            f"verifier {verifier.lower()} must acknowledge them first (POST /v1/verifications/acknowledgements)",
        )


def flagged_verifications(services: Services, reader: sqlite3.Connection, start: int, end: int) -> list[dict]:
    """Acknowledged flags in [start, end): project, evidence root, flags count, verifier, acknowledged at, and
    the batch issued from the report, if any."""
    out = []
    for ack in _acknowledgements(services):
        if not start <= ack["acknowledged_at"] < end:
            continue
        batch = reader.execute(
            "SELECT id FROM batch WHERE lower(evidence_root) = ? ORDER BY id LIMIT 1", (ack["evidence_root"],)
        ).fetchone()
        out.append({
            "project_id": ack["project_id"], "evidence_root": ack["evidence_root"], "flags_count": ack["flags_total"],
            "verifier": ack["verifier"], "acknowledged_at": ack["acknowledged_at"],
            "batch_id": batch[0] if batch else None,
        })  # fmt: skip
    return out
