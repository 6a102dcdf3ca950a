"""What a bank custodian signs (EIP-712, domain "SinkLedger Custody"), and checking that a recorded
custodian signed it. The platform holds no money: these receipts are its only evidence of payments,
refunds and deposits made at the bank, each verified before it changes anything."""

import time
from typing import Any

from eth_account.messages import SignableMessage, encode_typed_data
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak

from node.actors import Caller
from node.chain.eip712 import Signature, recover_signer
from node.errors import InvalidRequest
from node.services import Services

_PAYMENT = [
    {"name": "dealId", "type": "uint256"},
    {"name": "amountFen", "type": "uint256"},
    {"name": "currency", "type": "string"},
    {"name": "custodianRef", "type": "string"},
    {"name": "paidAt", "type": "uint64"},
]
MESSAGE_TYPES: dict[str, list[dict[str, str]]] = {
    # A deal's payment, and the refund that alone lets a paid deal be cancelled.
    "CustodianReceipt": _PAYMENT,
    "CustodianRefund": _PAYMENT,
    # A seller's deposit (保证金) held at the bank, never by the platform.
    "DepositReceipt": [
        {"name": "seller", "type": "address"},
        {"name": "amountFen", "type": "uint256"},
        {"name": "currency", "type": "string"},
        {"name": "custodianRef", "type": "string"},
        {"name": "paidAt", "type": "uint64"},
    ],
    # One bank settlement file confirming many subscriptions: the Merkle root of (subscription id, amount).
    "SubscriptionReceipt": [
        {"name": "campaignId", "type": "uint256"},
        {"name": "root", "type": "bytes32"},
        {"name": "count", "type": "uint256"},
        {"name": "amountFen", "type": "uint256"},
        {"name": "currency", "type": "string"},
        {"name": "custodianRef", "type": "string"},
        {"name": "paidAt", "type": "uint64"},
    ],
}


def custody_typed(chain_id: int, registry: str, kind: str, message: dict[str, Any]) -> SignableMessage:
    return encode_typed_data(
        domain_data={"name": "SinkLedger Custody", "version": "1", "chainId": chain_id, "verifyingContract": registry},
        message_types={kind: MESSAGE_TYPES[kind]},
        message_data=message,
    )


def digest_of(typed: SignableMessage) -> str:
    return "0x" + keccak(b"\x19" + typed.version + typed.header + typed.body).hex()


def verify_custodian(
    services: Services, kind: str, message: dict[str, Any], signature: dict[str, Any]
) -> tuple[str, str]:
    """(signer, EIP-712 digest) of a custodian's message; refused unless a recorded custodian signed it."""
    typed = custody_typed(services.manifest.chain_id, services.manifest.registry.address, kind, message)
    try:
        signer = recover_signer(
            typed, Signature(signature["v"], bytes.fromhex(signature["r"][2:]), bytes.fromhex(signature["s"][2:]))
        )
    except (BadSignature, ValidationError, ValueError):
        raise InvalidRequest(
            "invalid_signature", f"the {kind}'s signature is not a valid secp256k1 signature"
        ) from None
    if not services.state.rows("SELECT address FROM custodian WHERE address = ?", (signer,)):
        raise InvalidRequest("not_a_custodian", f"the {kind} is signed by {signer}, not by a recorded custodian")
    return signer, digest_of(typed)


def record_custodian(services: Services, caller: Caller, address: str, name: str) -> dict[str, Any]:
    """An admin records a bank custodian whose receipts the node accepts (recording it again renames it)."""
    services.state.execute(
        "INSERT INTO custodian (address, name, added_by, added_at) VALUES (?,?,?,?) ON CONFLICT (address) DO UPDATE"
        " SET name = excluded.name, added_by = excluded.added_by, added_at = excluded.added_at",
        (address.lower(), name, caller.account, int(time.time())),
    )
    return {"address": address.lower(), "name": name}
