"""Hostile input over real HTTP against a whole node run as its users run it (`sinknode up`, a child process):
every probe gets its refusal in the error shape, changes nothing the node holds, and leaves the process
alive; every response carries the security headers; a burst of writes is cut off with 429 and the refused
writes change nothing."""

from collections.abc import Iterator

import httpx
import pytest

from node.hostile import HostileNode, error_code, judged

READER = "127.0.0.2"  # loopback too on Linux: a client address of its own for the rate limits


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileNode]:
    with HostileNode(tmp_path_factory.mktemp("hostile"), {"SINKNODE_RATE_LIMIT_EXEMPT": '["127.0.0.1"]'}) as node:
        yield node


def test_every_hostile_request_is_refused_and_changes_nothing(hostile):
    wrong: list[str] = []
    with hostile.client() as local:
        for probe in hostile.probes():
            before = hostile.snapshot()
            try:
                reply = hostile.send(local, probe)
            except httpx.HTTPError as exc:
                wrong.append(f"{probe.name}: no answer ({exc!r})")
            else:
                if (problem := judged(reply, probe)) is not None:
                    wrong.append(problem)
            after = hostile.snapshot()
            changed = sorted(k for k in before if before[k] != after.get(k))
            if changed:
                wrong.append(f"{probe.name} changed {changed}")
            assert hostile.alive(), f"the node died on {probe.name}: {hostile.process.died()}"
    assert not wrong, "\n".join(wrong)


def test_every_kind_of_response_carries_the_security_headers(hostile):
    batch = hostile.batch
    with hostile.client() as local:
        answers = {
            "json": local.call("GET", f"/v1/batches/{batch}"),
            "html": local.call("GET", f"/batches/{batch}"),
            "not found": local.call("GET", "/v1/batches/999999"),
            "refusal": local.call("POST", "/v1/transfers", json={}),
            "docs": local.call("GET", "/docs"),
        }
    for kind, reply in answers.items():
        headers = reply.headers
        policy = headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy, (kind, policy)
        assert headers.get("x-content-type-options") == "nosniff", kind
        assert headers.get("referrer-policy"), kind
        assert "strict-transport-security" not in headers, kind  # the node's public URL is plain http here


def test_a_burst_of_writes_is_cut_off_and_the_refused_writes_change_nothing(hostile):
    path = f"/v1/listings/{hostile.listing}/offers"
    offer = {"quantity": 1_000_000, "price": "58.00", "expires_at": 2**33}
    refused: httpx.Response | None = None
    with hostile.client(local_address=READER) as local:
        for _ in range(400):
            reply = local.call("POST", path, "buyer", json=offer)
            if reply.status_code == 429:
                refused = reply
                break
            assert reply.status_code == 201, reply.text[:300]
        assert refused is not None, "400 offers in a row were all accepted"
        assert error_code(refused) == "rate_limited" and int(refused.headers["retry-after"]) >= 1
        before = hostile.snapshot()
        for _ in range(5):
            assert local.call("POST", path, "buyer", json=offer).status_code == 429
        assert hostile.snapshot() == before
        # The public pages stay open to everyone else, and liveness is never limited.
        assert local.call("GET", "/healthz").status_code == 200
    with hostile.client() as other:
        assert other.call("GET", f"/v1/batches/{hostile.batch}").status_code == 200
