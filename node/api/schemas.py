"""Request and response bodies. Requests are strict: no silent coercion of `false` into 0 or "1" into 1."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from node.text import MultiLine, SingleLine

Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$", examples=["0x" + "ab" * 20])]
Hash32 = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$", examples=["0x" + "00" * 32])]
Grams = Annotated[int, Field(gt=0, le=2**63 - 1, description="grams CO2e")]
Timestamp = Annotated[int, Field(ge=0, le=2**40 - 1, description="unix seconds")]
BatchId = Annotated[int, Field(ge=1, le=2**63 - 1)]
ProjectId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


PROJECT_KINDS = ("park", "street_trees", "community_garden", "wetland", "green_belt", "other")


class ProjectProfile(Strict):
    """What a buyer filters on; its canonical JSON hashes to the project's on-chain metadata hash."""

    name: Annotated[SingleLine, Field(min_length=1, max_length=120)]
    region: Annotated[str, Field(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,6}){0,2}$", examples=["CN-SH"])]
    kind: Annotated[str, Field(pattern="^(" + "|".join(PROJECT_KINDS) + ")$")]


class ProjectCreate(Strict):
    metadata_hash: Hash32 | None = Field(default=None, description="keccak of the profile's JSON when one is given")
    profile: ProjectProfile | None = None
    owner: Address | None = Field(default=None, description="defaults to the caller; an issuer may name another")

    @model_validator(mode="after")
    def _hash_or_profile(self) -> "ProjectCreate":
        if self.metadata_hash is None and self.profile is None:
            raise ValueError("give a metadata_hash, a profile, or both")
        return self


class VerificationStatementIn(Strict):
    project_id: ProjectId
    period_start: Timestamp
    period_end: Timestamp
    quantity: Grams
    evidence_root: Hash32
    methodology: Annotated[SingleLine, Field(min_length=1, max_length=64, examples=["SL-GS-001/1.1"])]
    expiry: Timestamp
    nonce: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0


class SignatureBody(Strict):
    v: Annotated[int, Field(ge=0, le=255)]
    r: Hash32
    s: Hash32


class VerificationSigned(BaseModel):
    statement: VerificationStatementIn
    digest: str
    verifier: str
    signature: SignatureBody


class IssueRequest(Strict):
    statement: VerificationStatementIn
    signature: SignatureBody


class TransferRequest(Strict):
    batch_id: BatchId
    to: Address
    amount: Grams
    deal_ref: Hash32 = "0x" + "00" * 32


class RetireRequest(Strict):
    batch_id: BatchId
    amount: Grams
    beneficiary: Annotated[SingleLine, Field(max_length=200)] = ""
    beneficiary_hash: Hash32 | None = None
    reason: Annotated[MultiLine, Field(max_length=500)] = ""
    consumption_start: Timestamp = 0
    consumption_end: Timestamp = 0
    region: Annotated[str, Field(max_length=16, pattern=r"^[A-Za-z0-9-]*$", examples=["CN-SH"])] = ""

    @model_validator(mode="after")
    def _one_beneficiary(self) -> "RetireRequest":
        if bool(self.beneficiary) == (self.beneficiary_hash is not None):
            raise ValueError("give exactly one of beneficiary and beneficiary_hash")
        return self


class ParticipantCreate(Strict):
    account: Address
    organisation: Annotated[int, Field(ge=1, le=2**32 - 1)]
    roles: Annotated[int, Field(ge=0, le=31, description="bits: admin 1, issuer 2, verifier 4, regulator 8, bank 16")]
    display_name: Annotated[
        SingleLine | None,
        Field(min_length=1, max_length=80, description="the name the pages show beside the address (off chain)"),
    ] = None


class ProjectBufferShare(Strict):
    share_bps: Annotated[
        int | None,
        Field(
            ge=0,
            le=10_000,
            description="the project's own buffer share in basis points; null clears it (the registry's applies)",
            examples=[1500, None],
        ),
    ]


class FreezeAccountRequest(Strict):
    frozen: bool
    reason: Annotated[MultiLine, Field(min_length=1, max_length=500)]


class BatchMeasureRequest(Strict):
    action: Annotated[str, Field(pattern=r"^(freeze|unfreeze|revoke)$")]
    reason: Annotated[MultiLine, Field(min_length=1, max_length=500)]


class SqlRequest(Strict):
    query: Annotated[MultiLine, Field(min_length=1, max_length=10_000)]


class SqlResult(BaseModel):
    """A console answer. Values are JSON-safe: a blob is 0x-hex, a non-finite real "Infinity"/"-Infinity"/"NaN"."""

    columns: list[str]
    column_types: list[str] = Field(
        description="per column, the SQLite storage class of its values: integer, real, text, blob, null when it "
        "held nothing else, or the classes seen joined by | (text|blob: a 0x string there may be either)"
    )
    rows: list[list[Any]]
    truncated: bool
    truncated_by: str | None = Field(description="row_cap or result_bytes when rows were left out")
    row_cap: int
    result_bytes_cap: int
    seconds: float


class SqlColumn(BaseModel):
    name: str
    type: str = Field(description="declared type (lowercase)")
    nullable: bool
    primary_key: bool
    description: str | None
    documented: bool


class SqlTable(BaseModel):
    name: str
    description: str | None
    documented: bool
    columns: list[SqlColumn]


class SqlLimitsView(BaseModel):
    time_limit_s: float
    row_cap: int
    max_value_bytes: int
    result_bytes: int
    memory_mb: int
    workers: int


class SqlSchema(BaseModel):
    tables: list[SqlTable]
    functions: list[str] = Field(description="the SQL functions a console query may call")
    limits: SqlLimitsView


class TxResult(BaseModel):
    tx_hash: str
    block_number: int
    gas_used: int
    result: dict[str, Any] = {}


class BundlePart(Strict):
    batch_id: BatchId
    quantity: Grams


class ListingCreate(Strict):
    batch_id: BatchId | None = None
    quantity: Grams | None = None
    parts: Annotated[
        list[BundlePart] | None,
        Field(min_length=2, max_length=32, description="a bundle: several batches, each with its fixed grams"),
    ] = None
    price: Annotated[str, Field(pattern=r"^\d{1,9}(\.\d{1,2})?$", description="the seller's quote, CNY per tonne")]
    min_lot: Grams
    valid_from: Timestamp
    valid_until: Timestamp
    title: Annotated[SingleLine, Field(min_length=1, max_length=120)]
    description: Annotated[MultiLine, Field(max_length=2000)] = ""


class NeedBody(Strict):
    """A need to save: discovery's query (GET /v1/discovery), with a label of the buyer's."""

    label: Annotated[SingleLine, Field(min_length=1, max_length=120)]
    quantity: Annotated[int, Field(ge=1, le=2**53, description="grams needed")]
    budget: Annotated[str | None, Field(pattern=r"^\d{1,12}(\.\d{1,2})?$", description="CNY for the quantity")] = None
    max_price: Annotated[str | None, Field(pattern=r"^\d{1,9}(\.\d{1,2})?$", description="CNY per tonne")] = None
    regions: Annotated[list[str] | None, Field(max_length=20)] = None
    kinds: Annotated[list[str] | None, Field(max_length=len(PROJECT_KINDS))] = None
    vintage_from: Annotated[int | None, Field(ge=1970, le=9999)] = None
    vintage_to: Annotated[int | None, Field(ge=1970, le=9999)] = None
    retire_by: Annotated[int | None, Field(ge=0, le=2**40, description="unix time the buyer must retire by")] = None


class StatementRequest(Strict):
    organisation: Annotated[int, Field(ge=0, le=2**63 - 1, description="the organisation id of its participants")]
    first_day: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="first day, Asia/Shanghai")]
    last_day: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="last day, included")]


class AuditGrantBody(Strict):
    auditor: Address
    name: Annotated[SingleLine, Field(min_length=1, max_length=120, description="the audit firm")]
    projects: Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1)]], Field(max_length=200)] = []
    participants: Annotated[list[Address], Field(max_length=200)] = []
    evidence: bool = False
    starts_at: Timestamp | None = None
    ends_at: Timestamp


class ConsentRequest(Strict):
    """What a holder consents to: a lien of `bank` on `amount` of its free units of `batch_id`, until `deadline`
    for the bank to register it."""

    batch_id: BatchId
    bank: Address
    amount: Grams
    deadline: Timestamp


class ConsentIn(Strict):
    batch_id: BatchId
    holder: Address
    bank: Address
    amount: Grams
    nonce: Annotated[int, Field(ge=0, le=2**63 - 1)]
    deadline: Timestamp


class PledgeRequest(Strict):
    consent: ConsentIn
    signature: SignatureBody


class DefaultRequest(Strict):
    reason: Annotated[MultiLine, Field(min_length=1, max_length=2000)]


class CustodianCreate(Strict):
    address: Address
    name: Annotated[SingleLine, Field(min_length=1, max_length=120)]


class OfferCreate(Strict):
    quantity: Grams
    price: Annotated[str, Field(pattern=r"^\d{1,9}(\.\d{1,2})?$", description="CNY per tonne")]
    expires_at: Timestamp
    deliver_by: Annotated[
        Timestamp | None, Field(description="when the seller is to deliver, if accepted (default: 14 days after)")
    ] = None


class OfferAnswer(Strict):
    action: Annotated[str, Field(pattern=r"^(accept|reject|counter)$")]
    price: Annotated[str | None, Field(pattern=r"^\d{1,9}(\.\d{1,2})?$")] = None


class ReceiptBody(Strict):
    amount_fen: Annotated[int, Field(ge=0, le=2**63 - 1)]
    currency: Annotated[str, Field(pattern=r"^CNY$")]
    custodian_ref: Annotated[SingleLine, Field(min_length=1, max_length=128)]
    paid_at: Timestamp
    signature: SignatureBody


class DisputeBody(Strict):
    reason: Annotated[MultiLine, Field(min_length=1, max_length=1000)]


class ResolveBody(Strict):
    outcome: Annotated[str, Field(pattern=r"^(continue|cancel)$")]
    note: Annotated[MultiLine, Field(min_length=1, max_length=1000)]
    against: Annotated[
        str, Field(pattern=r"^(seller|buyer|neither)$", description="whom the decision went against")
    ] = "neither"
    refund: ReceiptBody | None = None


class DepositBody(Strict):
    seller: Address
    amount_fen: Annotated[int, Field(gt=0, le=2**63 - 1)]
    currency: Annotated[str, Field(pattern=r"^CNY$")]
    custodian_ref: Annotated[SingleLine, Field(min_length=1, max_length=128)]
    paid_at: Timestamp
    signature: SignatureBody


class BlacklistBody(Strict):
    account: Address
    reason: Annotated[MultiLine, Field(min_length=1, max_length=1000)]


class ReasonBody(Strict):
    reason: Annotated[MultiLine, Field(min_length=1, max_length=1000)]


class CaseResolution(Strict):
    outcome: Annotated[str, Field(pattern=r"^(compensated|waived)$")]
    amount_fen: Annotated[int | None, Field(ge=0, le=2**63 - 1)] = None
    note: Annotated[MultiLine, Field(min_length=1, max_length=1000)]


class CampaignCreate(Strict):
    target: Grams
    deadline: Timestamp


class SubscriptionIn(Strict):
    subscriber: Annotated[
        SingleLine, Field(min_length=1, max_length=64, description="an opaque id chosen by the channel")
    ]
    grams: Grams
    amount_fen: Annotated[int, Field(ge=0, le=2**62, description="what the subscriber pays, in fen")]


class SubscriptionsBody(Strict):
    subscriptions: Annotated[list[SubscriptionIn], Field(min_length=1, max_length=20_000)]


class SettlementReceipt(Strict):
    subscription_ids: Annotated[list[Annotated[int, Field(ge=1, le=2**62)]], Field(min_length=1, max_length=200_000)]
    amount_fen: Annotated[int, Field(ge=0, le=2**63 - 1)]
    currency: Annotated[str, Field(pattern=r"^CNY$")]
    custodian_ref: Annotated[SingleLine, Field(min_length=1, max_length=128)]
    paid_at: Timestamp
    signature: SignatureBody


class AlertAction(Strict):
    action: Annotated[str, Field(pattern=r"^(acknowledge|escalate|close|confirm|false_positive)$")]
    note: Annotated[MultiLine, Field(min_length=1, max_length=2000)]


MEASURE_KINDS = (
    "report_request", "interview", "written_warning", "freeze_account", "unfreeze_account", "freeze_batch",
    "unfreeze_batch", "revoke_batch", "buffer_reversal", "blacklist",
)  # fmt: skip


class MeasureRequest(Strict):
    participant: Address
    kind: Annotated[str, Field(pattern="^(" + "|".join(MEASURE_KINDS) + ")$")]
    reason: Annotated[MultiLine, Field(min_length=1, max_length=2000)]
    batch_id: BatchId | None = None
    amount: Grams | None = None
    loss_project_id: ProjectId | None = None
    details: dict[SingleLine, MultiLine] | None = None


class ReviewDecision(Strict):
    decision: Annotated[str, Field(pattern=r"^(approved|rejected)$")]
    reason: Annotated[MultiLine, Field(min_length=1, max_length=2000)]


class RiskRerun(Strict):
    from_block: Annotated[int, Field(ge=0, le=2**62)]
    to_block: Annotated[int, Field(ge=0, le=2**62)]
