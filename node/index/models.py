"""The index schema. SQLModel owns it (and the query side); the indexer writes it with sqlite3.

Addresses and hashes are lowercase 0x-hex text; amounts are integer grams. Everything below
`ChainEvent` is derived from the events and can be rebuilt from them alone.
"""

from sqlalchemy import Index
from sqlmodel import Field, SQLModel, UniqueConstraint


def _in_chain_order(name: str, *columns: str) -> Index:
    """An index that also orders by chain position, so keyset pages never sort."""
    return Index(name, *columns, "block_number", "log_index")


class ChainEvent(SQLModel, table=True):
    __tablename__ = "chain_event"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_event_position"),
        _in_chain_order("ix_event_order"),
        _in_chain_order("ix_event_batch", "batch_id"),
        _in_chain_order("ix_event_project", "project_id"),
        _in_chain_order("ix_event_account", "account"),
        _in_chain_order("ix_event_counterparty", "counterparty"),
        _in_chain_order("ix_event_name", "name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chain_id: int
    block_number: int
    block_hash: str
    block_time: int
    tx_hash: str
    log_index: int
    name: str
    batch_id: int | None = None
    project_id: int | None = None
    account: str | None = None  # from / holder / subject of the event
    counterparty: str | None = None  # to, where there is one
    amount: int | None = None
    args: str  # JSON of every decoded argument
    digest: str  # running index digest up to and including this event


class IndexedBlock(SQLModel, table=True):
    """Hashes of blocks the index has relied on: where reorgs are detected."""

    __tablename__ = "indexed_block"
    number: int = Field(primary_key=True)
    hash: str


class Checkpoint(SQLModel, table=True):
    __tablename__ = "checkpoint"
    id: int = Field(default=1, primary_key=True)
    chain_id: int
    contract: str
    deploy_block: int
    last_block: int
    last_block_hash: str
    event_count: int
    digest: str


class LedgerSettings(SQLModel, table=True):
    __tablename__ = "ledger_settings"
    id: int = Field(default=1, primary_key=True)
    paused: bool = False
    buffer_account: str | None = None
    buffer_share_bps: int = 0


class Participant(SQLModel, table=True):
    __tablename__ = "participant"
    address: str = Field(primary_key=True)
    organisation: int = Field(index=True)
    roles: int
    frozen: bool = False
    registered_block: int
    registered_time: int


class Project(SQLModel, table=True):
    __tablename__ = "project"
    id: int = Field(primary_key=True)
    owner: str = Field(index=True)
    metadata_hash: str
    status: int
    issued_until: int = 0
    batch_count: int = 0
    registered_block: int
    registered_time: int
    # The project's own buffer share (basis points), set by an admin on chain; None: it inherits the registry's.
    # Added after the first schema: last, as in an upgraded index (node.index.db).
    buffer_share_bps: int | None = None


class Batch(SQLModel, table=True):
    """A batch and its supply: issued = outstanding balances + retired + reversed."""

    __tablename__ = "batch"
    id: int = Field(primary_key=True)
    project_id: int = Field(index=True)
    period_index: int
    period_start: int
    period_end: int
    quantity: int
    buffer_amount: int
    owner: str
    buffer_account: str
    verifier: str = Field(index=True)
    issuer: str = Field(index=True)
    evidence_root: str
    methodology_id: str
    verification_digest: str
    status: int = 0
    retired: int = 0
    reversed: int = 0
    issued_block: int
    issued_time: int
    issued_tx: str
    # The buffer share (basis points) in force for the project at issuance: buffer_amount = ⌈quantity × it / 10,000⌉.
    # Columns added since the first schema come last, where an upgraded index has them too (node.index.db).
    buffer_share_bps: int | None = None


class Balance(SQLModel, table=True):
    __tablename__ = "balance"
    batch_id: int = Field(primary_key=True)
    account: str = Field(primary_key=True, index=True)
    amount: int


class Retirement(SQLModel, table=True):
    __tablename__ = "retirement"
    id: int = Field(primary_key=True)
    batch_id: int = Field(index=True)
    holder: str = Field(index=True)
    amount: int
    beneficiary: str
    beneficiary_hash: str
    reason: str
    consumption_start: int
    consumption_end: int
    region: str
    block_number: int
    block_time: int
    tx_hash: str


class Pledge(SQLModel, table=True):
    """A bank's lien on a holder's units of a batch: active, defaulted (the bank may take them), released or
    enforced (taken: a transfer to the bank)."""

    __tablename__ = "pledge"
    id: int = Field(primary_key=True)
    batch_id: int = Field(index=True)
    holder: str = Field(index=True)
    bank: str = Field(index=True)
    amount: int
    state: str
    registered_block: int
    registered_time: int
    registered_tx: str
    default_reason: str | None = None  # the hash of the bank's written reason
    closed_block: int | None = None  # released or enforced
    closed_time: int | None = None


class Freeze(SQLModel, table=True):
    """What is frozen now: an account or a batch, since when and why. Revoked batches are not here."""

    __tablename__ = "freeze"
    kind: str = Field(primary_key=True)  # "account" | "batch"
    target: str = Field(primary_key=True)
    regulator: str
    reason: str
    since_block: int
    since_time: int


class DailyProjectStats(SQLModel, table=True):
    """Per calendar day × project totals, kept as events are indexed, for the regulator's summaries."""

    __tablename__ = "daily_project_stats"
    day: str = Field(primary_key=True)  # YYYY-MM-DD in the configured time zone
    project_id: int = Field(primary_key=True)
    issued: int = 0
    issuances: int = 0
    transferred: int = 0
    transfers: int = 0
    retired: int = 0
    retirements: int = 0
    reversed: int = 0
    reversals: int = 0


class Alert(SQLModel, table=True):
    """A risk rule's finding (node.risk.engine), raised as its event was indexed; rebuilt by a re-index."""

    __tablename__ = "alert"
    key: str = Field(primary_key=True)  # hash of the rule and what makes the finding unique
    rule: str = Field(index=True)
    severity: str
    block_number: int = Field(index=True)
    log_index: int
    tx_hash: str
    block_time: int = Field(index=True)
    participants: str  # JSON list of accounts
    evidence: str  # JSON list of {block, log, tx, batch}
    deals: str  # JSON list of deal ids
    explanation_zh: str
    explanation_en: str
    details: str  # JSON


class RiskNote(SQLModel, table=True):
    """What a rule could not judge, said rather than hidden (a deal with no reference price yet)."""

    __tablename__ = "risk_note"
    id: int | None = Field(default=None, primary_key=True)
    rule: str
    block_number: int
    log_index: int
    tx_hash: str
    deal_id: int
    note: str


DERIVED_TABLES = (
    "ledger_settings",
    "participant",
    "project",
    "batch",
    "balance",
    "retirement",
    "pledge",
    "freeze",
    "daily_project_stats",
    "alert",
    "risk_note",
)
# Derived by the risk rules, which each organisation may configure its own way (node.index.agreement).
RULE_TABLES = ("alert", "risk_note")
