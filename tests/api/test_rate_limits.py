"""Rate limits against a node of their own with small limits: a client on 127.0.0.2 (loopback on Linux, not
exempt) is refused with 429 `rate_limited` and Retry-After, and a refused write changes nothing; 127.0.0.1 is
exempt as listed; /healthz is never limited. The tests share the node's counters: they run in file order."""

import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest

from node.devnode import LocalNode, local_node
from node.settings import load_settings

OTHER_ADDRESS = "127.0.0.2"
WRITES_PER_TOKEN, WRITES_PER_ADDRESS, READS = 5, 8, 12


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    with local_node(
        tmp_path_factory.mktemp("limited"),
        rate_limit_writes=f"{WRITES_PER_TOKEN}/minute",
        rate_limit_writes_per_address=f"{WRITES_PER_ADDRESS}/minute",
        rate_limit_reads=f"{READS}/minute",
        rate_limit_exempt=["127.0.0.1"],  # the fixture's own set-up writes from there
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def elsewhere(limited: LocalNode) -> Iterator[httpx.Client]:
    """A client whose requests come from 127.0.0.2."""
    transport = httpx.HTTPTransport(local_address=OTHER_ADDRESS)
    with httpx.Client(base_url=limited.url, transport=transport, timeout=60) as client:
        yield client


def register_project(node: LocalNode, client: httpx.Client, who: str) -> httpx.Response:
    meta = "0x" + hashlib.sha256(f"project {time.time_ns()}".encode()).hexdigest()
    return client.post(
        "/v1/projects", json={"metadata_hash": meta}, headers={"authorization": f"Bearer {node.tokens[who]}"}
    )


def projects_of(node: LocalNode, who: str) -> int:
    return len(node.ok("GET", "/v1/registry/projects", params={"owner": node.addresses[who]}))


def wait_for_projects(node: LocalNode, who: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while projects_of(node, who) < count:
        assert time.monotonic() < deadline, f"the index never showed {count} projects of {who}"
        time.sleep(0.2)


def assert_rate_limited(reply: httpx.Response, words: str) -> None:
    assert reply.status_code == 429, reply.text[:300]
    assert reply.json()["error"]["code"] == "rate_limited"
    assert words in reply.json()["error"]["message"]
    assert 1 <= int(reply.headers["retry-after"]) <= 60
    assert reply.headers["content-security-policy"] and reply.headers["x-request-id"]


def test_writes_are_limited_per_token_then_per_address_and_refused_ones_change_nothing(limited, elsewhere):
    before = projects_of(limited, "park")
    accepted = [register_project(limited, elsewhere, "park") for _ in range(WRITES_PER_TOKEN)]
    assert [r.status_code for r in accepted] == [201] * WRITES_PER_TOKEN, accepted[-1].text[:300]
    for _ in range(3):
        assert_rate_limited(register_project(limited, elsewhere, "park"), "with this token")
    wait_for_projects(limited, "park", before + WRITES_PER_TOKEN)
    time.sleep(1.5)  # a few index polls: a refused write that got through would show by now
    assert projects_of(limited, "park") == before + WRITES_PER_TOKEN
    last = max(r.json()["result"]["project_id"] for r in accepted)
    assert limited.call("GET", f"/v1/projects/{last}").status_code == 200
    assert limited.call("GET", f"/v1/projects/{last + 1}").status_code == 404  # on chain too: nothing more

    # Another token from the same address has its own budget, but the address's is nearly spent: the refused
    # writes above did not use it up.
    buyer = [register_project(limited, elsewhere, "buyer") for _ in range(WRITES_PER_ADDRESS - WRITES_PER_TOKEN)]
    assert [r.status_code for r in buyer] == [201] * len(buyer), buyer[-1].text[:300]
    assert_rate_limited(register_project(limited, elsewhere, "buyer"), "from this address")
    # A write with no token at all is limited by its address before anyone asks who it is.
    assert_rate_limited(elsewhere.post("/v1/projects", json={}), "from this address")


def test_an_exempt_address_is_not_limited(limited):
    # park's token is spent on 127.0.0.2; from 127.0.0.1, listed as exempt, it still writes.
    for _ in range(WRITES_PER_TOKEN + 2):
        assert register_project(limited, limited.http, "park").status_code == 201
    assert all(limited.call("GET", "/v1/status").status_code == 200 for _ in range(READS + 5))
    assert limited.call("GET", "/v1/batches/not-a-number").status_code == 422  # errors are not limited away


def test_reads_and_pages_are_limited_per_address_and_healthz_never(limited, elsewhere):
    replies = [elsewhere.get(path) for path in ("/v1/status", "/blacklist", "/docs") * READS]
    statuses = [r.status_code for r in replies]
    assert statuses[:READS] == [200] * READS, replies[statuses.index(next(s for s in statuses if s != 200))].text
    assert set(statuses[READS:]) == {429}
    assert_rate_limited(replies[-1], "from this address")
    assert all(elsewhere.get("/healthz").status_code == 200 for _ in range(3 * READS))


def test_the_exemption_setting_reads_a_json_list_or_commas(monkeypatch):
    monkeypatch.setenv("SINKNODE_RATE_LIMIT_EXEMPT", '["127.0.0.1", "10.0.0.0/8"]')
    assert load_settings().rate_limit_exempt == ["127.0.0.1/32", "10.0.0.0/8"]
    monkeypatch.setenv("SINKNODE_RATE_LIMIT_EXEMPT", "127.0.0.1, ::1")
    assert load_settings().rate_limit_exempt == ["127.0.0.1/32", "::1/128"]
    monkeypatch.delenv("SINKNODE_RATE_LIMIT_EXEMPT")
    assert load_settings().rate_limit_exempt == []
