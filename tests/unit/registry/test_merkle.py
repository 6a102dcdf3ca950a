"""RFC 6962 Merkle trees: every proof verifies, any change makes it fail."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.merkle import (
    InclusionProof,
    MerkleTree,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_inclusion,
)

leaves_strategy = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True)


@given(leaves_strategy, st.data())
def test_every_leaf_proves_its_inclusion(leaves, data):
    root = merkle_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(leaves, index)
    assert verify_inclusion(leaves[index], proof, root)
    assert InclusionProof.from_dict(proof.as_dict()) == proof


@given(leaves_strategy, st.data())
def test_a_changed_leaf_index_or_root_fails(leaves, data):
    root = merkle_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(leaves, index)
    tampered = bytes([leaves[index][0] ^ 1]) + leaves[index][1:]
    assert not verify_inclusion(tampered, proof, root)
    assert not verify_inclusion(leaves[index], proof, hashlib.sha256(root).digest())
    if len(leaves) > 1:
        moved = InclusionProof((index + 1) % len(leaves), proof.tree_size, proof.path)
        assert not verify_inclusion(leaves[index], moved, root)


def test_matches_the_rfc_6962_shape():
    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))
    assert merkle_root([a]) == leaf_hash(a)
    assert merkle_root([a, b, c]) == node_hash(node_hash(leaf_hash(a), leaf_hash(b)), leaf_hash(c))


def test_an_empty_tree_is_refused():
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle_root([])


def _rfc6962_root(leaves):
    """RFC 6962 §2.1 as written: the recursive split at the largest power of two below n."""
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_rfc6962_root(leaves[:k]), _rfc6962_root(leaves[k:]))


@given(st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=70))
def test_the_bottom_up_tree_is_the_rfc_6962_tree(leaves):
    tree = MerkleTree(leaves)
    assert tree.root == _rfc6962_root(leaves)
    assert all(verify_inclusion(leaf, tree.proof(i), tree.root) for i, leaf in enumerate(leaves))
