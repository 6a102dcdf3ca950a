"""Helpers for tests against a deployed registry: statements, batches, state fingerprints and refusals."""

import itertools
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from node.chain.devnet import DevNetwork
from node.chain.registry import RetirementRequest
from node.chain.statements import VerificationStatement, methodology_id, sign_verification
from node.errors import ContractRevert

DAY = 86_400
YEAR = 365 * DAY
METHODOLOGY = methodology_id("SL-GS-001/1.1")
_roots = itertools.count(1)


def chain_now(net: DevNetwork) -> int:
    return int(net.rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def fresh_root() -> bytes:
    return b"\xee" + next(_roots).to_bytes(31, "big")


def statement(
    net: DevNetwork,
    project_id: int,
    *,
    start: int | None = None,
    end: int | None = None,
    quantity: int = 1_000_000_000,
    evidence_root: bytes | None = None,
    expiry: int | None = None,
    nonce: int = 0,
) -> VerificationStatement:
    now = chain_now(net)
    end = now - DAY if end is None else end
    start = end - YEAR if start is None else start
    return VerificationStatement(
        project_id=project_id,
        period_start=start,
        period_end=end,
        quantity=quantity,
        evidence_root=evidence_root or fresh_root(),
        methodology_id=METHODOLOGY,
        expiry=now + 3600 if expiry is None else expiry,
        nonce=nonce,
    )


def new_project(net: DevNetwork, owner: str = "owner") -> int:
    return net.registry.register_project(net.senders[owner], net.address(owner), b"\x42" * 32)


def issue(net: DevNetwork, st: VerificationStatement, *, verifier: str = "verifier", issuer: str = "issuer") -> int:
    signature = sign_verification(net.accounts[verifier], net.registry.domain(), st)
    batch_id, _ = net.registry.issue(net.senders[issuer], st, signature)
    return batch_id


def issued_batch(net: DevNetwork, quantity: int = 1_000_000_000) -> tuple[int, int]:
    """A new project with one issued batch: (project id, batch id)."""
    project = new_project(net)
    return project, issue(net, statement(net, project, quantity=quantity))


def buffer_part(net: DevNetwork, quantity: int = 1_000_000_000, project: int | None = None) -> int:
    """The grams of an issued `quantity` the ledger credits to the buffer account: ⌈quantity × share / 10,000⌉ at
    the share in force for `project` (its own or the registry's), or the registry's share when no project is named."""
    reg = net.registry
    share = reg.value("bufferShareBps") if project is None else reg.buffer_share_of(project)
    return -(-quantity * share // 10_000)


def owner_part(net: DevNetwork, quantity: int = 1_000_000_000, project: int | None = None) -> int:
    """The grams of an issued `quantity` the project owner receives: what the buffer does not take."""
    return quantity - buffer_part(net, quantity, project)


def retirement(batch_id: int, amount: int, **fields: Any) -> RetirementRequest:
    values: dict[str, Any] = {
        "beneficiary": "Acme Ltd",
        "reason": "2026 ESG report",
        "consumption_start": 1_700_000_000,
        "consumption_end": 1_710_000_000,
        "region": b"CN-310000".ljust(16, b"\0"),
    }
    values.update(fields)
    return RetirementRequest(batch_id, amount, **values)


def fingerprint(net: DevNetwork, batches: Iterable[int] = ()) -> dict[str, Any]:
    """Every piece of registry state the tests can name, read from the chain."""
    reg = net.registry
    state: dict[str, Any] = {
        "block": net.rpc.block_number(),
        "paused": reg.value("paused"),
        "buffer": (reg.value("bufferAccount"), reg.value("bufferShareBps")),
        "retirements": reg.value("retirementCount"),
        "projects": [reg.project(p) for p in range(1, reg.value("projectCount") + 1)],
        "participants": {name: reg.participant(net.address(name)) for name in net.accounts},
    }
    for batch in batches:
        state[f"batch {batch}"] = (
            reg.batch_status(batch),
            {name: reg.balance_of(net.address(name), batch) for name in net.accounts},
        )
    return state


def assert_refused(
    net: DevNetwork, call: Callable[[], object], name: str, *args: Any, batches: Iterable[int] = ()
) -> ContractRevert:
    """The call is refused with the named error and exactly these arguments, and no state changes."""
    batches = list(batches)
    before = fingerprint(net, batches)
    with pytest.raises(ContractRevert) as refused:
        call()
    assert refused.value.name == name, f"expected {name}, got {refused.value}"
    if args:
        assert refused.value.values == tuple(a.lower() if isinstance(a, str) else a for a in args)
    assert fingerprint(net, batches) == before
    return refused.value


def regulate(net: DevNetwork, measure: str, *args: Any) -> Any:
    """A regulator's measure, e.g. regulate(net, "freezeBatch", batch, reason)."""
    return net.registry.send(net.senders["regulator"], measure, *args)


def process_ended(pid: int, timeout_s: float = 10.0) -> bool:
    """True once `pid` has exited (gone, or a zombie nobody reaped), polling for at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False
