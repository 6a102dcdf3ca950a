"""Signing and recovering EIP-712 messages with local keys: one place for the (v, r, s) plumbing."""

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount


@dataclass(frozen=True)
class Signature:
    v: int
    r: bytes
    s: bytes

    def as_tuple(self) -> tuple[int, bytes, bytes]:
        return (self.v, self.r, self.s)


def sign_typed(account: LocalAccount, typed: Any) -> Signature:
    signed = account.sign_message(typed)
    return Signature(v=signed.v, r=signed.r.to_bytes(32, "big"), s=signed.s.to_bytes(32, "big"))


def recover_signer(typed: Any, signature: Signature) -> str:
    vrs = (signature.v, int.from_bytes(signature.r, "big"), int.from_bytes(signature.s, "big"))
    return str(Account.recover_message(typed, vrs=vrs)).lower()
