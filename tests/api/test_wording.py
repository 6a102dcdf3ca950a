"""Investment wording in any public text (listing and bundle titles and descriptions, project names) is refused
with 422 financial_wording naming the field and the phrase, before anything is stored or sent to the chain."""

import hashlib

import pytest

from node.devflows import deposit, error_of, issued_batch, listing_for
from node.devnode import LocalNode

# Written on every request whatever its outcome, or never by these routes.
# node_worker: each worker notes it is alive every second (with the store in PostgreSQL); credit facts and saved
# needs' notices are recorded by the node's schedules on their own clock.
_BOOKKEEPING = {"regulator_query", "idempotency_key", "schema_version", "node_worker", "credit_fact", "credit_score",
                "need_notice"}  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _park_has_a_deposit(node):
    assert deposit(node, "park").status_code == 201


def held(node: LocalNode) -> dict[str, str]:
    """A digest of every table the node keeps, and the chain's block height: what a refusal must not change."""
    found = {}
    for table in sorted(set(node.store_tables()) - _BOOKKEEPING):
        rows = sorted(node.store_rows(f'SELECT * FROM "{table}"'), key=repr)
        found[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    found["block"] = str(node.services.rpc.block_number())
    return found


def refused(node: LocalNode, path: str, body: dict, field: str, phrase: str) -> None:
    before = held(node)
    reply = node.call("POST", path, "park", json=body)
    assert error_of(reply) == (422, "financial_wording"), reply.text
    message = reply.json()["error"]["message"]
    assert message.startswith(f"{field}: ") and repr(phrase) in message, message
    assert held(node) == before


def test_a_dodged_phrase_in_a_listing_title_is_refused_and_nothing_is_stored(node):
    _, batch = issued_batch(node)
    title = "&#x7a69;&#x8cfa;\u200b碳匯"  # 穩賺 as hex references, an invisible space, traditional characters
    refused(node, "/v1/listings", listing_for(batch, 1_000_000, title=title), "title", "稳赚")
    described = listing_for(batch, 1_000_000, description="Guаrаnteed  returns, r-i-s-k f-r-e-e")  # Cyrillic а
    refused(node, "/v1/listings", described, "description", "guaranteed return")
    node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 1_000_000, description="Trees returned to health"))


def test_a_bundle_title_is_checked_like_a_listing_title(node):
    batches = [issued_batch(node)[1] for _ in range(2)]
    parts = [{"batch_id": b, "quantity": 1_000_000} for b in batches]
    bundle = listing_for(None, None, parts=parts, title="%E9%AB%98%E5%9B%9E%E6%8A%A5")  # 高回报, percent-encoded
    refused(node, "/v1/listings", bundle, "title", "高回报")


def test_a_project_name_with_a_listed_phrase_is_refused_and_no_project_is_registered(node):
    profile = {"name": "保本稳赚公园", "region": "CN-ZJ", "kind": "park"}
    refused(node, "/v1/projects", {"profile": profile}, "profile.name", "保本")
    profile = {"name": "Riverside Park (zero‑risk)", "region": "CN-ZJ", "kind": "park"}  # a non-breaking hyphen
    refused(node, "/v1/projects", {"profile": profile}, "profile.name", "zero risk")
    honest = {"name": "滨江公园 Riverside Park", "region": "CN-ZJ", "kind": "park"}
    assert node.ok("POST", "/v1/projects", "park", json={"profile": honest})["result"]["project_id"] > 0
