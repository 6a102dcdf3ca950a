"""QBFT's header extraData: RLP([vanity (32 bytes), [validator addresses], vote, round, [commit seals]]).

A genesis block carries no vote (an empty list), round 0 (the empty integer) and no seals; the validators
listed there are the network's first validator set. Decoding also accepts the empty string for "no vote",
which some writers use.
"""

from dataclasses import dataclass

import rlp

VANITY_BYTES = 32


@dataclass(frozen=True)
class QbftVote:
    recipient: str
    add: bool  # True: vote to add the recipient; False: to remove it


@dataclass(frozen=True)
class QbftExtraData:
    vanity: bytes
    validators: tuple[str, ...]  # lower-case 0x addresses, in header order
    vote: QbftVote | None
    round: int
    seals: tuple[bytes, ...]


def _address_bytes(address: str) -> bytes:
    raw = bytes.fromhex(address.lower().removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"{address!r} is not a 20-byte address")
    return raw


def encode_genesis_extra_data(validators: list[str], vanity: bytes = bytes(VANITY_BYTES)) -> str:
    """The extraData of a QBFT genesis block (0x hex) for these validators, in the order given."""
    if len(vanity) != VANITY_BYTES:
        raise ValueError("the vanity must be 32 bytes")
    if not validators:
        raise ValueError("a QBFT network needs at least one validator")
    addresses = [_address_bytes(v) for v in validators]
    if len(set(addresses)) != len(addresses):
        raise ValueError("a validator is listed twice")
    return "0x" + rlp.encode([vanity, addresses, [], 0, []]).hex()


def decode_extra_data(extra_data: str) -> QbftExtraData:
    """Reads a QBFT extraData; raises ValueError for anything that is not one."""
    try:
        items = rlp.decode(bytes.fromhex(extra_data.lower().removeprefix("0x")))
    except (ValueError, rlp.exceptions.DecodingError) as error:
        raise ValueError(f"extraData is not RLP: {error}") from None
    if not isinstance(items, list) or len(items) != 5:
        raise ValueError("QBFT extraData is a list of five items")
    vanity, validators, vote, round_bytes, seals = items
    if not isinstance(vanity, bytes) or len(vanity) != VANITY_BYTES:
        raise ValueError("the vanity must be 32 bytes")
    if not isinstance(validators, list) or any(not isinstance(v, bytes) or len(v) != 20 for v in validators):
        raise ValueError("the validators must be a list of 20-byte addresses")
    if not isinstance(round_bytes, bytes) or len(round_bytes) > 4:
        raise ValueError("the round must be a 4-byte integer at most")
    if not isinstance(seals, list) or any(not isinstance(s, bytes) for s in seals):
        raise ValueError("the seals must be a list of signatures")
    return QbftExtraData(
        vanity=vanity,
        validators=tuple("0x" + v.hex() for v in validators),
        vote=_vote(vote),
        round=int.from_bytes(round_bytes, "big"),
        seals=tuple(seals),
    )


def _vote(item: object) -> QbftVote | None:
    if item in (b"", []):
        return None
    if not isinstance(item, list) or len(item) != 2:
        raise ValueError("a vote is [recipient, kind]")
    recipient, kind = item
    if not isinstance(recipient, bytes) or len(recipient) != 20 or kind not in (b"\x00", b"\xff"):
        raise ValueError("a vote is [20-byte recipient, 0x00 (drop) or 0xff (add)]")
    return QbftVote(recipient="0x" + recipient.hex(), add=kind == b"\xff")
