"""Evidence shared between two organisations' nodes on one chain: a regulator of another organisation fetches
a project's monitoring evidence with a signed request, checked against its attested root; a participant of an
organisation without a grant is refused until the owner grants it; unsigned, forged, stale and replayed
requests are refused; both sides log every grant, fetch and refusal."""

import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest

from node.chain.keystore import Keystore
from node.devflows import error_of, issued_batch
from node.devnode import LocalNode, peer_node
from node.evidence.peer import signed_headers


@pytest.fixture(scope="module")
def other(node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """The regulator's organisation's node (organisation 9), which knows the first node as a peer."""
    with peer_node(tmp_path_factory.mktemp("other"), node, peers=[node.url], organisation=9) as handle:
        yield handle


def _member(node: LocalNode, other: LocalNode, name: str, organisation: int, roles: int) -> str:
    """A participant whose key lives on the other node, registered on chain by the first node's admin."""
    keystore = Keystore.from_settings(other.settings)
    address = keystore.create(name)
    other.tokens[name] = other.services.state.create_token(key_name=name, account=address, label=name)
    node.ok("POST", "/v1/admin/participants", "admin", json={"account": address, "organisation": organisation,
                                                             "roles": roles})  # fmt: skip
    deadline = time.monotonic() + 30
    while other.ok("GET", "/v1/status")["index"]["last_block"] < node.ok("GET", "/v1/status")["index"]["last_block"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return address


@pytest.fixture(scope="module")
def root(node: LocalNode) -> str:
    _, batch = issued_batch(node)
    return node.ok("GET", f"/v1/batches/{batch}")["evidence_root"]


def test_a_regulator_of_another_organisation_fetches_checked_evidence(node, other, root):
    _member(node, other, "inspector", 9, 8)
    bundle = node.ok("GET", f"/v1/evidence/{root}")
    assert not any(other.services.evidence.has(f["digest"]) for f in bundle["files"])
    result = other.ok("POST", "/v1/evidence/fetch", "inspector", json={"peer": node.url, "root": root})
    assert sorted(result["fetched"]) == sorted(f["digest"] for f in bundle["files"])
    for item in bundle["files"]:
        content = other.services.evidence.get(item["digest"])
        assert hashlib.sha256(content).hexdigest() == item["digest"]
    # The bundle is kept beside the files: this node now answers for it too.
    assert other.ok("GET", f"/v1/evidence/{root}") == bundle
    # Both sides logged it: the holder served each file to the inspector, the fetcher fetched each.
    served = node.ok("GET", f"/v1/evidence/{root}/access", "regulator")["log"]
    assert [e["outcome"] for e in served if e["direction"] == "served"] == ["served: regulator"] * len(bundle["files"])
    fetched = other.ok("GET", f"/v1/evidence/{root}/access", "inspector")["log"]
    assert [e["outcome"] for e in fetched] == ["fetched"] * len(bundle["files"])
    # Fetched again: nothing travels, nothing changes.
    again = other.ok("POST", "/v1/evidence/fetch", "inspector", json={"peer": node.url, "root": root})
    assert again["fetched"] == [] and len(again["kept"]) == len(bundle["files"])


def test_an_organisation_without_a_grant_is_refused_until_the_owner_grants_it(node, other, root):
    _member(node, other, "trader", 55, 0)
    _, batch = issued_batch(node)
    fresh = node.ok("GET", f"/v1/batches/{batch}")["evidence_root"]
    refused = other.call("POST", "/v1/evidence/fetch", "trader", json={"peer": node.url, "root": fresh})
    assert error_of(refused) == (409, "peer_refused") and "evidence_not_granted" in refused.text
    bundle = node.ok("GET", f"/v1/evidence/{fresh}")
    assert not any(other.services.evidence.has(f["digest"]) for f in bundle["files"])
    # Only the owner's organisation grants; the buyer (organisation 4) may not.
    assert error_of(node.call("POST", f"/v1/evidence/{fresh}/grants", "buyer", json={"organisation": 55})) == (
        403, "not_the_owner")  # fmt: skip
    granted = node.ok("POST", f"/v1/evidence/{fresh}/grants", "issuer", json={"organisation": 55})
    assert [g["organisation"] for g in granted["grants"]] == [55]
    result = other.ok("POST", "/v1/evidence/fetch", "trader", json={"peer": node.url, "root": fresh})
    assert len(result["fetched"]) == len(bundle["files"])
    outcomes = [(e["direction"], e["outcome"]) for e in node.ok("GET", f"/v1/evidence/{fresh}/access", "issuer")["log"]]
    assert outcomes[0] == ("served", "refused: not granted")
    assert ("granted", "granted") in outcomes and outcomes[-1] == ("served", "served: granted")


def test_unsigned_forged_stale_and_replayed_requests_are_refused(node, other, root):
    digest = node.ok("GET", f"/v1/evidence/{root}")["files"][0]["digest"]
    url = f"{node.url}/v1/peer/evidence/{root}/files/{digest}"
    chain, registry = node.services.manifest.chain_id, node.services.manifest.registry.address
    inspector = other.services.account("inspector")
    with httpx.Client(timeout=30) as http:
        assert error_of(http.get(url)) == (401, "peer_signature_missing")
        headers = signed_headers(inspector, "GET", url, chain, registry)
        assert http.get(url, headers=headers).status_code == 200
        assert error_of(http.get(url, headers=headers)) == (401, "peer_signature_replayed")
        stale = signed_headers(inspector, "GET", url, chain, registry, now=int(time.time()) - 3600)
        assert error_of(http.get(url, headers=stale)) == (401, "peer_signature_expired")
        # Signed for another file, or by someone else than the named signer.
        other_file = url[:-64] + "00" * 32
        moved = signed_headers(inspector, "GET", other_file, chain, registry)
        assert error_of(http.get(url, headers=moved)) == (401, "peer_signature_invalid")
        forged = {
            **signed_headers(inspector, "GET", url, chain, registry),
            "x-sink-signer": node.addresses["regulator"],
        }
        assert error_of(http.get(url, headers=forged)) == (401, "peer_signature_invalid")
        # Signed for another ledger.
        elsewhere = signed_headers(inspector, "GET", url, chain + 1, registry)
        assert error_of(http.get(url, headers=elsewhere)) == (401, "peer_signature_invalid")


def test_a_peer_the_node_was_not_told_of_is_refused_before_any_request(other, root):
    reply = other.call("POST", "/v1/evidence/fetch", "inspector", json={"peer": "http://127.0.0.1:9", "root": root})
    assert error_of(reply) == (422, "unknown_peer")
