"""A holder's consent to a bank's lien (the contract's PledgeConsent), built, signed and checked off-chain, and
the registry calls that register, release, default and enforce a pledge."""

from dataclasses import astuple, dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from node.chain.eip712 import Signature, recover_signer, sign_typed
from node.chain.registry import RegistryClient
from node.chain.sender import Receipt, TransactionSender
from node.chain.statements import Eip712Domain

CONSENT_FIELDS: list[dict[str, str]] = [
    {"name": "batchId", "type": "uint256"},
    {"name": "holder", "type": "address"},
    {"name": "bank", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
PLEDGE_STATES = {0: "none", 1: "active", 2: "defaulted", 3: "released", 4: "enforced"}


@dataclass(frozen=True)
class PledgeConsent:
    batch_id: int
    holder: str
    bank: str
    amount: int
    nonce: int
    deadline: int

    def as_tuple(self) -> tuple[Any, ...]:
        return astuple(self)

    def message(self) -> dict[str, Any]:
        return {field["name"]: value for field, value in zip(CONSENT_FIELDS, self.as_tuple(), strict=True)}


def _typed(domain: Eip712Domain, consent: PledgeConsent) -> Any:
    return encode_typed_data(
        domain_data=domain.as_dict(), message_types={"PledgeConsent": CONSENT_FIELDS}, message_data=consent.message()
    )


def sign_consent(holder: LocalAccount, domain: Eip712Domain, consent: PledgeConsent) -> Signature:
    return sign_typed(holder, _typed(domain, consent))


def consent_signer(domain: Eip712Domain, consent: PledgeConsent, signature: Signature) -> str:
    return recover_signer(_typed(domain, consent), signature)


def register_pledge(registry: RegistryClient, sender: TransactionSender, consent: PledgeConsent,
                    signature: Signature) -> Receipt:  # fmt: skip
    return registry.send(sender, "pledge", consent.as_tuple(), *signature.as_tuple())
