"""Small subscription campaigns (碳汇众筹): the two Merkle trees (registry.merkle, RFC 6962) they use.

Payments. A bank custodian confirms many subscriptions with one signed receipt over the root of

    payment leaf = subscription id (8 bytes big-endian) ‖ amount in fen (8 bytes big-endian)

in the order the custodian lists them, so a settlement file of any size is one signature.

Beneficiaries. The campaign's one retirement names as beneficiary the root of

    subscriber leaf = utf8(subscriber) ‖ 0x00 ‖ grams (8 bytes big-endian)

(the same leaf as a checkout order), one per paid subscription in subscription-id order, so every
subscriber proves its share of that retirement offline from its certificate.
"""

from registry.merkle import InclusionProof, MerkleTree, verify_inclusion
from registry.offsets import order_leaf


def payment_leaf(subscription_id: int, amount_fen: int) -> bytes:
    if not 0 <= subscription_id < 2**63 or not 0 <= amount_fen < 2**63:
        raise ValueError("subscription id and amount are 0 .. 2^63-1")
    return subscription_id.to_bytes(8, "big") + amount_fen.to_bytes(8, "big")


def payment_root(payments: list[tuple[int, int]]) -> bytes:
    return MerkleTree([payment_leaf(i, a) for i, a in payments]).root


def subscriber_tree(subscriptions: list[tuple[str, int]]) -> MerkleTree:
    return MerkleTree([order_leaf(subscriber, grams) for subscriber, grams in subscriptions])


def verify_subscriber(subscriber: str, grams: int, proof: InclusionProof, root: bytes) -> bool:
    """Is (subscriber, grams) one of the shares of the retirement whose beneficiary hash is `root`?"""
    try:
        return verify_inclusion(order_leaf(subscriber, grams), proof, root)
    except ValueError:
        return False
