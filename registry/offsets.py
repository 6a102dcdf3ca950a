"""Checkout offsets: many orders' footprints retired at once, each order provably included.

The retirement's beneficiary is the Merkle root (registry.merkle, RFC 6962) over one leaf per order:

    leaf = utf8(order id) ‖ 0x00 ‖ grams as 8 bytes big-endian

so an order's certificate (its id, grams, index and audit path) is checked against the root recorded
on chain, offline; changing an order's grams, or its id, breaks its proof.
"""

from dataclasses import dataclass

from registry.merkle import InclusionProof, MerkleTree, verify_inclusion


def order_leaf(order_id: str, grams: int) -> bytes:
    if "\x00" in order_id:
        raise ValueError("an order id cannot contain NUL")
    if not 0 <= grams < 2**63:
        raise ValueError(f"grams out of range: {grams}")
    return order_id.encode() + b"\x00" + grams.to_bytes(8, "big")


@dataclass(frozen=True)
class OffsetTree:
    order_ids: tuple[str, ...]
    grams: tuple[int, ...]
    tree: MerkleTree

    @classmethod
    def build(cls, orders: list[tuple[str, int]]) -> "OffsetTree":
        ids = tuple(order_id for order_id, _ in orders)
        if len(set(ids)) != len(ids):
            raise ValueError("an order appears twice in one offset")
        grams = tuple(g for _, g in orders)
        return cls(ids, grams, MerkleTree([order_leaf(i, g) for i, g in orders]))

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def total_grams(self) -> int:
        return sum(self.grams)

    def proof(self, index: int) -> InclusionProof:
        return self.tree.proof(index)


def verify_order(order_id: str, grams: int, proof: InclusionProof, root: bytes) -> bool:
    """Is (order id, grams) one of the orders whose root is `root`?"""
    try:
        return verify_inclusion(order_leaf(order_id, grams), proof, root)
    except ValueError:
        return False
