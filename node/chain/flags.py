"""The EIP-712 acknowledgement a verifier signs before a statement over a report with plausibility flags:
`FlagsAcknowledged(bytes32 evidenceRoot, bytes32 flagsHash)`, in the same domain as the verification
statement (node.chain.statements), so an acknowledgement for one deployment means nothing to another. It is
kept by the node with the evidence; the contract never sees it."""

from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from node.chain.eip712 import Signature, recover_signer, sign_typed
from node.chain.statements import Eip712Domain

ACKNOWLEDGEMENT_FIELDS: list[dict[str, str]] = [
    {"name": "evidenceRoot", "type": "bytes32"},
    {"name": "flagsHash", "type": "bytes32"},
]


def acknowledgement_typed(domain: Eip712Domain, evidence_root: bytes, flags_hash: bytes) -> Any:
    return encode_typed_data(
        domain_data=domain.as_dict(),
        message_types={"FlagsAcknowledged": ACKNOWLEDGEMENT_FIELDS},
        message_data={"evidenceRoot": evidence_root, "flagsHash": flags_hash},
    )


def sign_acknowledgement(
    account: LocalAccount, domain: Eip712Domain, evidence_root: bytes, flags_hash: bytes
) -> Signature:
    return sign_typed(account, acknowledgement_typed(domain, evidence_root, flags_hash))


def recover_acknowledger(domain: Eip712Domain, evidence_root: bytes, flags_hash: bytes, signature: Signature) -> str:
    return recover_signer(acknowledgement_typed(domain, evidence_root, flags_hash), signature)
