"""Typed access to a deployed SinkRegistry: reads by eth_call, writes through a TransactionSender."""

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_utils import keccak

from node.chain.abi import ContractAbi
from node.chain.rpc import RpcClient, RpcError
from node.chain.sender import Receipt, TransactionSender
from node.chain.statements import Eip712Domain, Signature, VerificationStatement
from node.errors import TransactionError

ROLE_ADMIN = 1
ROLE_ISSUER = 2
ROLE_VERIFIER = 4
ROLE_REGULATOR = 8
ROLE_BANK = 16  # holds liens on certificates (pledges)
ZERO32 = bytes(32)
# A project's buffer share holding this inherits the registry's (the contract's INHERIT_BUFFER_SHARE).
INHERIT_BUFFER_SHARE = 2**16 - 1
MAX_BUFFER_SHARE_BPS = 10_000


class ProjectStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2
    CLOSED = 3


class BatchStatus(IntEnum):
    ACTIVE = 0
    FROZEN = 1
    REVOKED = 2


@dataclass(frozen=True)
class Participant:
    organisation: int
    roles: int
    registered: bool
    frozen: bool


@dataclass(frozen=True)
class Project:
    owner: str
    status: ProjectStatus
    issued_until: int
    batch_count: int
    buffer_share_bps: int | None = None  # the project's own buffer share; None: it inherits the registry's


@dataclass(frozen=True)
class RetirementDetails:
    """What every retirement of one retireBatches call shares: a RetirementRequest less batch and amount."""

    beneficiary: str = ""
    beneficiary_hash: bytes = ZERO32
    reason: str = ""
    consumption_start: int = 0
    consumption_end: int = 0
    region: bytes = bytes(16)

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.beneficiary,
            self.beneficiary_hash,
            self.reason,
            self.consumption_start,
            self.consumption_end,
            self.region,
        )


@dataclass(frozen=True)
class RetirementRequest:
    batch_id: int
    amount: int
    beneficiary: str = ""
    beneficiary_hash: bytes = ZERO32
    reason: str = ""
    consumption_start: int = 0
    consumption_end: int = 0
    region: bytes = bytes(16)

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.batch_id, self.amount, *self.details().as_tuple())

    def details(self) -> RetirementDetails:
        """The request's beneficiary, reason, consumption period and region, for retire_batches."""
        return RetirementDetails(
            self.beneficiary,
            self.beneficiary_hash,
            self.reason,
            self.consumption_start,
            self.consumption_end,
            self.region,
        )


@dataclass(frozen=True)
class DecodedEvent:
    name: str
    args: dict[str, Any]
    log_index: int


def beneficiary_commitment(beneficiary: str, salt: bytes) -> bytes:
    """The salted hash a holder may retire for instead of a plain-text beneficiary.

    keccak256(salt || utf8(beneficiary)) with a 32-byte random salt: whoever is given the name and
    the salt can check it against the on-chain retirement; nobody else can guess the name.
    """
    if len(salt) != 32:
        raise ValueError("the salt must be 32 random bytes")
    return keccak(salt + beneficiary.encode())


def batch_id_of(project_id: int, period_index: int) -> int:
    """The batch id the contract gives the `period_index`-th issued period (from 1) of a project."""
    return (project_id << 32) | period_index


class RegistryClient:
    def __init__(self, rpc: RpcClient, abi: ContractAbi, address: str) -> None:
        self.rpc = rpc
        self.abi = abi
        self.address = address.lower()

    # reads -------------------------------------------------------------------------------------
    def call(self, name: str, *args: Any, block: str = "latest") -> tuple[Any, ...]:
        codec = self.abi.function(name)
        request = {"to": self.address, "data": "0x" + codec.encode_call(args).hex()}
        try:
            result = self.rpc.call("eth_call", request, block)
        except RpcError as exc:
            data = exc.revert_data
            raise (self.abi.decode_revert(data) if data is not None else TransactionError(exc.message)) from exc
        return codec.decode_output(bytes.fromhex(result[2:]))

    def participant(self, account: str) -> Participant:
        return Participant(*self.call("participant", account)[0])

    def project(self, project_id: int) -> Project:
        owner, status, issued_until, batch_count, share = self.call("project", project_id)[0]
        own_share = None if share == INHERIT_BUFFER_SHARE else share
        return Project(owner.lower(), ProjectStatus(status), issued_until, batch_count, own_share)

    def buffer_share_of(self, project_id: int) -> int:
        """The buffer share (basis points) the project's next issuance holds back: its own or the registry's."""
        return int(self.call("bufferShareOf", project_id)[0])

    def balance_of(self, account: str, batch_id: int) -> int:
        return int(self.call("balanceOf", account, batch_id)[0])

    def batch_status(self, batch_id: int) -> BatchStatus:
        return BatchStatus(self.call("batchStatus", batch_id)[0])

    def domain(self) -> Eip712Domain:
        _, name, version, chain_id, contract, _, _ = self.call("eip712Domain")
        return Eip712Domain(name, version, chain_id, contract.lower())

    def value(self, name: str, *args: Any) -> Any:
        """A single-valued view, e.g. value('paused') or value('projectCount')."""
        return self.call(name, *args)[0]

    # writes ------------------------------------------------------------------------------------
    def send(self, sender: TransactionSender, name: str, *args: Any, gas: int | None = None) -> Receipt:
        codec = self.abi.function(name)
        return sender.send(self.address, codec.encode_call(args), gas=gas)

    def register_participant(self, sender: TransactionSender, account: str, organisation: int, roles: int) -> Receipt:
        return self.send(sender, "registerParticipant", account, organisation, roles)

    def register_project(self, sender: TransactionSender, owner: str, metadata_hash: bytes) -> int:
        receipt = self.send(sender, "registerProject", owner, metadata_hash)
        return int(self.event(receipt, "ProjectRegistered").args["projectId"])

    def set_project_buffer_share(self, sender: TransactionSender, project_id: int, share_bps: int | None) -> Receipt:
        """An admin sets the project's own buffer share, or with None clears it (the registry's applies again)."""
        return self.send(
            sender, "setProjectBufferShare", project_id, INHERIT_BUFFER_SHARE if share_bps is None else share_bps
        )

    def issue(
        self, sender: TransactionSender, statement: VerificationStatement, signature: Signature
    ) -> tuple[int, Receipt]:
        receipt = self.send(sender, "issue", statement.as_tuple(), *signature.as_tuple())
        return int(self.event(receipt, "BatchIssued").args["batchId"]), receipt

    def transfer(
        self, sender: TransactionSender, batch_id: int, to: str, amount: int, deal_ref: bytes = ZERO32
    ) -> Receipt:
        return self.send(sender, "transfer", batch_id, to, amount, deal_ref)

    def transfer_batches(
        self, sender: TransactionSender, batch_ids: list[int], amounts: list[int], to: str, deal_ref: bytes = ZERO32
    ) -> Receipt:
        """Every pair in one transaction under one deal reference; the contract wants ascending batch ids."""
        return self.send(sender, "transferBatches", batch_ids, amounts, to, deal_ref)

    def retire(self, sender: TransactionSender, request: RetirementRequest) -> tuple[int, Receipt]:
        receipt = self.send(sender, "retire", request.as_tuple())
        return int(self.event(receipt, "CertificateRetired").args["retirementId"]), receipt

    def retire_batches(
        self, sender: TransactionSender, batch_ids: list[int], amounts: list[int], details: RetirementDetails
    ) -> tuple[list[int], Receipt]:
        """Every pair retired in one transaction with the same details; the contract wants ascending batch ids.

        Returns the retirement ids in log order, which is the order of `batch_ids`.
        """
        receipt = self.send(sender, "retireBatches", batch_ids, amounts, details.as_tuple())
        ids = [int(e.args["retirementId"]) for e in self.events(receipt) if e.name == "CertificateRetired"]
        return ids, receipt

    # events ------------------------------------------------------------------------------------
    def events(self, receipt: Receipt) -> list[DecodedEvent]:
        decoded = []
        for log in receipt.logs:
            if log["address"].lower() != self.address:
                continue
            topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
            codec = self.abi.events.get(topics[0])
            if codec is None:
                continue
            args = codec.decode(topics, bytes.fromhex(log["data"][2:]))
            decoded.append(DecodedEvent(codec.name, args, int(log["logIndex"], 16)))
        return decoded

    def event(self, receipt: Receipt, name: str) -> DecodedEvent:
        for event in self.events(receipt):
            if event.name == name:
                return event
        raise TransactionError(f"transaction {receipt.tx_hash} emitted no {name}")
