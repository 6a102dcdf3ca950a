"""Merkle trees over 32-byte leaves with inclusion proofs, as RFC 6962 (Certificate Transparency) defines them.

    leaf hash   = SHA-256(0x00 ‖ leaf)
    node hash   = SHA-256(0x01 ‖ left ‖ right)
    tree of n   = split at k, the largest power of two below n: node(tree(first k), tree(rest))

The 0x00/0x01 prefixes keep a leaf from ever passing for an inner node. An evidence bundle's leaves are
the SHA-256 digests of its files, sorted and without repeats, so the root does not depend on the order
files were uploaded in. Pure Python, no dependencies beyond hashlib.
"""

import hashlib
from dataclasses import dataclass


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    level = [leaf_hash(leaf) for leaf in leaves]
    return _root_of_hashes(level)


def _root_of_hashes(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(_root_of_hashes(hashes[:k]), _root_of_hashes(hashes[k:]))


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


def inclusion_proof(leaves: list[bytes], index: int) -> InclusionProof:
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    return InclusionProof(index, len(leaves), tuple(_path([leaf_hash(x) for x in leaves], index)))


def _path(hashes: list[bytes], index: int) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _split(len(hashes))
    if index < k:
        return [*_path(hashes[:k], index), _root_of_hashes(hashes[k:])]
    return [*_path(hashes[k:], index - k), _root_of_hashes(hashes[:k])]


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
