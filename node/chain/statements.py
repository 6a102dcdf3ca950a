"""The EIP-712 verification statement a verifier signs, built, signed and checked off-chain.

The domain is read from the contract's ERC-5267 `eip712Domain()` rather than hard-coded, so a
statement signed for one deployment can never be submitted to another.
"""

from dataclasses import astuple, dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from node.chain.eip712 import Signature, recover_signer, sign_typed

STATEMENT_FIELDS: list[dict[str, str]] = [
    {"name": "projectId", "type": "uint64"},
    {"name": "periodStart", "type": "uint40"},
    {"name": "periodEnd", "type": "uint40"},
    {"name": "quantity", "type": "uint256"},
    {"name": "evidenceRoot", "type": "bytes32"},
    {"name": "methodologyId", "type": "bytes32"},
    {"name": "expiry", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
]


@dataclass(frozen=True)
class Eip712Domain:
    name: str
    version: str
    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


@dataclass(frozen=True)
class VerificationStatement:
    """What the verifier attests: `quantity` grams CO2e sunk by `project_id` over the period."""

    project_id: int
    period_start: int
    period_end: int
    quantity: int
    evidence_root: bytes
    methodology_id: bytes
    expiry: int
    nonce: int

    def as_tuple(self) -> tuple[Any, ...]:
        return astuple(self)

    def message(self) -> dict[str, Any]:
        return {field["name"]: value for field, value in zip(STATEMENT_FIELDS, self.as_tuple(), strict=True)}


def methodology_id(name: str) -> bytes:
    """A methodology's on-chain id: keccak256 of its name and version, e.g. 'SL-GS-001/1.1'."""
    return keccak(text=name)


def _typed(domain: Eip712Domain, statement: VerificationStatement) -> Any:
    return encode_typed_data(
        domain_data=domain.as_dict(),
        message_types={"VerificationStatement": STATEMENT_FIELDS},
        message_data=statement.message(),
    )


def sign_verification(account: LocalAccount, domain: Eip712Domain, statement: VerificationStatement) -> Signature:
    return sign_typed(account, _typed(domain, statement))


def statement_digest(domain: Eip712Domain, statement: VerificationStatement) -> bytes:
    """The EIP-712 digest the contract records as the batch's verification digest."""
    signable = _typed(domain, statement)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def recover_verifier(domain: Eip712Domain, statement: VerificationStatement, signature: Signature) -> str:

    return recover_signer(_typed(domain, statement), signature)
