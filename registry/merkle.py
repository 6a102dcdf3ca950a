"""Merkle trees over leaves with inclusion proofs, as RFC 6962 (Certificate Transparency) defines them.

    leaf hash   = SHA-256(0x00 ‖ leaf)
    node hash   = SHA-256(0x01 ‖ left ‖ right)
    tree of n   = split at k, the largest power of two below n: node(tree(first k), tree(rest))

The 0x00/0x01 prefixes keep a leaf from ever passing for an inner node. The tree is built bottom-up,
pairing neighbours and promoting a level's odd last node unpaired, which gives the same tree as the
recursive definition with every proof O(log n). An evidence bundle's leaves are its files' SHA-256
digests, sorted and without repeats; an offset's leaves encode (order id, grams). Pure Python.
"""

import hashlib
from dataclasses import dataclass


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    path: tuple[bytes, ...]  # sibling hashes from the leaf up

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "tree_size": self.tree_size, "path": ["0x" + p.hex() for p in self.path]}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "InclusionProof":
        path = data["path"]
        if not isinstance(path, list):
            raise ValueError("path must be a list of hex strings")
        return cls(int(str(data["index"])), int(str(data["tree_size"])), tuple(bytes.fromhex(p[2:]) for p in path))


class MerkleTree:
    def __init__(self, leaves: list[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        self.size = len(leaves)
        level = [leaf_hash(leaf) for leaf in leaves]
        self.levels = [level]
        while len(level) > 1:
            paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            level = paired
            self.levels.append(level)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> InclusionProof:
        if not 0 <= index < self.size:
            raise ValueError(f"leaf {index} is not in a tree of {self.size}")
        path, position = [], index
        for level in self.levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):  # else this node was promoted: no sibling at this level
                path.append(level[sibling])
            position //= 2
        return InclusionProof(index, self.size, tuple(path))


def merkle_root(leaves: list[bytes]) -> bytes:
    return MerkleTree(leaves).root


def inclusion_proof(leaves: list[bytes], index: int) -> InclusionProof:
    return MerkleTree(leaves).proof(index)


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: recomputes the root from the leaf and its audit path."""
    if not 0 <= proof.index < proof.tree_size:
        return False
    fn, sn = proof.index, proof.tree_size - 1
    current = leaf_hash(leaf)
    for sibling in proof.path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            current = node_hash(sibling, current)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            current = node_hash(current, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and current == root
