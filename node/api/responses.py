"""Response bodies as the API really answers them: the OpenAPI document then says what each JSON route returns,
so clients and the schema fuzzer (tests/api/test_fuzz.py) can hold the node to it.

Field names are exactly those the routes return. A field a route may leave out is optional with no default
value written out: routes returning plain dicts use `response_model_exclude_unset`, so an absent key stays
absent and a null stays null. `dict[str, Any]` marks the shapes that are open by design: decoded event
arguments (one set per event), a rule's alert details, a write's stored answer, free-form measure details.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from node.api.schemas import ErrorResponse


class Out(BaseModel):
    # Read from the routes' own dicts, never from a client: lax, and nothing unknown is kept.
    model_config = ConfigDict(extra="ignore")


class Health(Out):
    status: str


# --- the node -------------------------------------------------------------------------------------------------


class IndexState(Out):
    last_block: int
    events: int
    digest: str


class RiskState(Out):
    mode: str
    running: bool | None = None


class WritesState(Out):
    live_intents: int
    pending: int
    resent: int
    dropped: int
    ids_changed: int


class NodeStatus(Out):
    chain_id: int
    registry: str
    index: IndexState
    risk: RiskState
    writes: WritesState


# --- the ledger as indexed ------------------------------------------------------------------------------------


class ProjectRecord(Out):
    id: int
    owner: str
    metadata_hash: str
    status: str
    issued_until: int
    batch_count: int
    registered_block: int
    registered_time: int
    buffer_share_bps: int | None  # the project's own buffer share (basis points); null: it inherits the registry's
    effective_buffer_share_bps: int | None  # the share its next issuance holds back: its own, else the registry's


class Supply(Out):
    issued: int
    retired: int
    reversed: int
    outstanding: int


class BatchRecord(Out):
    id: int
    project_id: int
    period_index: int
    period_start: int
    period_end: int
    quantity: int
    buffer_amount: int
    owner: str
    buffer_account: str
    verifier: str
    issuer: str
    evidence_root: str
    methodology_id: str
    verification_digest: str
    status: str
    retired: int
    reversed: int
    issued_block: int
    issued_time: int
    issued_tx: str
    buffer_share_bps: int | None  # the share in force at issuance (basis points): buffer_amount is its ceiling
    supply: Supply
    serial_prefix: str
    serial_range: str


class BatchBacking(Out):
    """What this node's monitoring data says of the batch (node.projects.issuance.backing)."""

    computed_grams: int | None  # the creditable figure this node computed for the evidence root; null: no report
    issued_grams: int
    state: str  # matches, differs or no_report


class BatchWithProject(BatchRecord):
    project: ProjectRecord | None
    backing: BatchBacking


class RetirementRecord(Out):
    id: int
    batch_id: int
    holder: str
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


class RetirementCertificate(RetirementRecord):
    batch: BatchRecord | None
    page: str


class Event(Out):
    block_number: int
    block_time: int
    tx_hash: str
    log_index: int
    name: str
    account: str
    counterparty: str | None
    amount: int | None
    args: dict[str, Any]


class EventPage(Out):
    events: list[Event]
    next_cursor: str | None


class Holding(Out):
    batch_id: int
    amount: int
    pledged: int = 0  # held for banks (liens): not free to transfer, retire or list
    free: int = 0
    project_id: int
    status: int
    period_start: int
    period_end: int


class PledgeRecord(Out):
    id: int
    batch_id: int
    holder: str
    bank: str
    amount: int
    state: str  # active | defaulted | released | enforced
    registered_block: int
    registered_time: int
    registered_tx: str
    default_reason: str | None = None  # the bank's written reason, when this node holds it (its hash is on chain)
    closed_block: int | None = None
    closed_time: int | None = None


class ConsentSignature(Out):
    v: int
    r: str
    s: str


class SignedConsent(Out):
    batch_id: int
    holder: str
    bank: str
    amount: int
    nonce: int
    deadline: int
    signature: ConsentSignature


# --- evidence and accounting ----------------------------------------------------------------------------------


class EvidenceFile(Out):
    name: str
    original_name: str
    digest: str
    size: int


class Attestation(Out):
    evidence_root: str
    project_id: int
    kind: str
    attested_at: int
    chain_id: int
    registry: str


class Signature(Out):
    v: int
    r: str
    s: str


class EvidenceBundle(Out):
    evidence_root: str
    files: list[EvidenceFile]
    attestation: Attestation
    signature: Signature
    signer: str


class MerkleProof(Out):
    index: int
    tree_size: int
    path: list[str]


class EvidenceProof(Out):
    file_digest: str
    proof: MerkleProof
    attestation: Attestation
    signature: Signature
    signer: str


class Computation(Out):
    """SL-GS-001's result; its pools and maintenance lines are the method version's own breakdown."""

    method_version: str
    input_hash: str
    pools: dict[str, Any]
    maintenance: dict[str, Any]
    baseline_tco2: float | int
    leakage_tco2: float | int
    net_tco2: float | int
    creditable_grams: int
    buffer_share: float | int
    buffer_share_bps: int | None = None  # the ledger's share in force for the project; absent in older records
    buffer_grams: int
    owner_grams: int
    issuable: bool
    notes: list[str]
    # Plausibility flags and census summaries (registry.plausibility): absent from reports computed before them.
    plausibility: dict[str, Any] | None = None


class AccountingRecord(Out):
    evidence_root: str
    project_id: int
    creditable_grams: int
    input_hash: str
    result: Computation
    created_at: int


class ReversalAlert(Out):
    key: str
    rule: str
    loss_grams: int


class MonitoringResult(Out):
    evidence_root: str
    accounting: Computation
    bundle: EvidenceBundle
    alert: ReversalAlert | None


class ChainCheck(Out):
    block: int
    status_on_chain: str
    exists_on_chain: bool
    matches_index: bool


class Verification(Out):
    verifier: str
    digest: str
    methodology_id: str
    evidence_root: str
    period: list[int]


class Issuance(Out):
    issuer: str
    tx_hash: str
    block: int
    time: int


class Provenance(Out):
    batch: BatchRecord
    project: ProjectRecord | None
    verification: Verification
    issuance: Issuance
    evidence: EvidenceBundle | None
    accounting: AccountingRecord | None
    events: list[Event]
    next_cursor: str | None
    chain_check: ChainCheck | None


# --- participants and projects --------------------------------------------------------------------------------


class Me(Out):
    account: str
    key: str
    label: str
    roles: int
    organisation: int | None
    frozen: bool


class ProfileRecord(Out):
    name: str
    region: str
    kind: str
    metadata_hash: str


class ReviewStep(Out):
    decision: str
    reason: str
    actor: str
    at: int


class Review(Out):
    project_id: int
    state: str
    history: list[ReviewStep]


class ProjectView(ProjectRecord):
    profile: ProfileRecord | None
    review: Review


class PointsEntry(Out):
    points: int
    grams: int
    source: str
    retirement_ids: list[int]
    at: int


class Points(Out):
    holder: str
    points: int
    grams: int
    entries: list[PointsEntry]


class IntentTx(Out):
    tx_hash: str
    nonce: int
    state: str
    block_number: int | None
    resent: bool
    ids_changed: dict[str, Any] | None


class Intent(Out):
    """A write's fate; `answer` is what the write answers once settled (its route's own body)."""

    intent_id: int
    kind: str
    state: str
    actor: str
    created_at: int
    updated_at: int
    transactions: list[IntentTx]
    status: int | None
    answer: dict[str, Any] | None
    status_url: str


# --- the market -----------------------------------------------------------------------------------------------


class ListingVerification(Out):
    verifier: str
    evidence_root: str
    methodology_id: str
    verification_digest: str


class ListingAccounting(Out):
    creditable_grams: int
    method: str
    input_hash: str


class RiskStatement(Out):
    zh: str
    en: str


class Constituent(Out):
    batch_id: int
    quantity: int
    share: str
    batch: BatchRecord | None
    verification: ListingVerification | None
    accounting: ListingAccounting | None
    provenance: str


class Listing(Out):
    id: int
    status: str
    status_reason: str
    seller: str
    title: str
    description: str
    quantity: int
    min_lot: int
    price_cny_per_tonne: str
    price_note: str
    valid_from: int
    valid_until: int
    region: str | None
    kind: str | None
    vintage: int | None
    bundle: bool
    batch: BatchRecord | None
    project: ProjectRecord | None
    verification: ListingVerification | None
    accounting: ListingAccounting | None
    provenance: str
    risk_statement: RiskStatement
    constituents: list[Constituent] | None = None


class FittingListing(Out):
    id: int
    seller: str
    title: str
    quantity: int
    available: int  # grams not yet held by deals or a campaign
    min_lot: int
    price_cny_per_tonne: str
    vintage: int | None
    region: str | None
    kind: str | None
    project_id: int | None
    batch_id: int
    verifier: str | None
    bundle: bool
    valid_from: int
    valid_until: int
    listing: str  # the listing's full disclosure
    provenance: str  # its batch's provenance page


class DiscoveryOrder(Out):
    by: str
    descending: bool


class DiscoveryPart(Out):
    listing_id: int
    quantity: int
    cost_cny: str


class DiscoveryCombination(Out):
    order: list[DiscoveryOrder]
    parts: list[DiscoveryPart]
    quantity: int
    cost_cny: str
    average_price_cny_per_tonne: str | None
    covers: bool
    within_budget: bool
    surplus: int
    regions: list[str]
    vintages: list[int]
    projects: list[int]


class Discovery(Out):
    fitting: int
    fitting_quantity: int
    listings: list[FittingListing]
    combinations: list[DiscoveryCombination]
    notice: RiskStatement


class NeedTerms(Out):
    grams: int
    budget_fen: int | None
    regions: list[str]
    vintage_from: int | None
    vintage_to: int | None
    kinds: list[str]
    retire_by: int | None
    max_price_fen: int | None


class NeedNotice(Out):
    listing_id: int
    noticed_at: int
    listing: FittingListing


class SavedNeed(Out):
    id: int
    label: str
    need: NeedTerms
    saved_at: int
    new_listings: int  # listings noticed for it in all (the newest 200 are listed)
    notices: list[NeedNotice]


class StatementLine(Out):
    retirement_id: int
    serial: str
    batch_id: int
    project_id: int
    project: str
    kind: str
    region: str
    method: str
    vintage: int
    quantity_g: int
    beneficiary: str
    reason: str
    consumption_from: str  # a day, Asia/Shanghai
    consumption_to: str
    tx_hash: str
    block_number: int
    block_time: int
    merkle_root: str | None  # checkout offsets and campaigns: the root the statement's JSON has the leaves of
    certificate: str


class StatementTotals(Out):
    retirements: int
    quantity_g: int
    by_kind: dict[str, int]
    by_region: dict[str, int]


class EsgStatement(Out):
    hash: str  # SHA-256 of the statement's canonical JSON
    organisation: int
    first_day: str
    last_day: str
    issued_at: int
    signer: str  # the node's statement key (EIP-191 signature over the hash)
    signature: str
    signature_valid: bool
    pdf_sha256: str
    csv_sha256: str
    totals: StatementTotals
    lines: list[StatementLine]
    verification: str  # the public verification page
    pdf: str
    csv: str
    json_file: str = Field(alias="json")


class StatementCheck(Out):
    genuine: bool
    sha256: str  # of the bytes sent
    statement: str | None = None
    issued_as: str | None = None  # pdf | csv
    organisation: int | None = None
    first_day: str | None = None
    last_day: str | None = None
    issued_at: int | None = None
    verification: str | None = None


class AuditGrant(Out):
    id: int
    auditor: str
    name: str
    projects: list[int]
    participants: list[str]
    evidence: bool  # evidence files of the projects in scope too
    starts_at: int
    ends_at: int
    revoked_at: int | None
    live: bool
    queries: int  # queries logged under it
    token: str | None = None  # the auditor's API token: in the answer that made the grant only


class AuditQuery(Out):
    id: int
    auditor: str
    endpoint: str
    params: dict[str, Any]
    outcome: str
    at: int


class CreditFact(Out):
    kind: str
    ref: str  # what it is about: deal:N, decision:N, batch:N, case:N, measure:N, alert:KEY
    points: int
    public: bool
    at: int


class CreditHistory(Out):
    at: int
    kind: str
    ref: str
    points: int
    score: int  # the supervisory score after this fact


class Credit(Out):
    account: str
    score: int  # from the public facts alone
    grade: str
    inputs: dict[str, int]  # facts by kind
    facts: list[CreditFact]  # the newest 200
    method: dict[str, Any]
    supervisory_score: int | None = None  # regulators: every fact
    supervisory_grade: str | None = None
    history: list[CreditHistory] | None = None
    recomputed_score: int | None = None  # regulators: from the records now, without the kept score
    recomputed_supervisory_score: int | None = None


class PriceStatistics(Out):
    month: str
    vintage: int
    kind: str
    deals: int
    median_cny_per_tonne: str
    min_cny_per_tonne: str
    max_cny_per_tonne: str


class Custodian(Out):
    address: str
    name: str


class Offer(Out):
    id: int
    listing_id: int
    buyer: str
    quantity: int
    price_fen_per_tonne: int
    expires_at: int
    state: str
    deal_id: int | None
    created_at: int
    price_cny_per_tonne: str


class PaymentReceipt(Out):
    amount_fen: int
    currency: str
    custodian_ref: str
    paid_at: int
    custodian: str
    digest: str


class DealPart(Out):
    batch_id: int
    quantity: int
    provenance: str


class DealStep(Out):
    state: str
    actor: str
    note: str
    at: int


class Deal(Out):
    id: int
    listing_id: int
    offer_id: int
    seller: str
    buyer: str
    batch_id: int
    quantity: int
    state: str
    receipt: PaymentReceipt | None
    deal_ref: str | None
    created_at: int
    allocation: list[list[int]] | None
    intent_id: int | None
    constituents: list[DealPart]
    price_cny_per_tonne: str
    steps: list[DealStep]


class Deposit(Out):
    id: int
    amount_fen: int
    drawn_fen: int
    currency: str
    custodian: str
    custodian_ref: str
    paid_at: int
    recorded_at: int


class Deposits(Out):
    seller: str
    remaining_fen: int
    deposits: list[Deposit]


class Blacklisted(Out):
    account: str
    reason: str
    freeze_tx: str | None


class BlacklistEntry(Out):
    account: str
    reason: str
    listed_at: int


class BlacklistLifted(Out):
    account: str
    lifted: bool
    unfreeze_tx: str


class CompensationCase(Out):
    id: int
    deal_id: int
    batch_id: int
    buyer: str
    seller: str
    quantity: int
    state: str
    amount_fen: int | None
    note: str | None
    opened_at: int
    resolved_by: str | None
    resolved_at: int | None


# --- campaigns and offsets ------------------------------------------------------------------------------------


class Campaign(Out):
    id: int
    listing_id: int
    seller: str
    batch_id: int
    target: int
    deadline: int
    state: str
    root: str | None
    retirement_id: int | None
    tx_hash: str | None
    closed_at: int | None
    created_at: int
    intent_id: int | None
    subscriptions: int
    subscribed_grams: int
    paid_subscriptions: int
    paid_grams: int
    refunds_due: int
    certificates: str
    certificate_page: str


class SubscriptionsAdded(Out):
    campaign_id: int
    first_id: int
    last_id: int


class SubscriptionCertificate(Out):
    subscription_id: int
    subscriber: str
    grams: int
    state: str
    campaign_state: str | None = None
    points: int | None = None
    root: str | None = None
    proof: MerkleProof | None = None
    retirement_id: int | None = None
    tx_hash: str | None = None
    batch_id: int | None = None
    leaf: str | None = None
    page: str | None = None
    retirement: str | None = None


class CertificateEntry(Out):
    subscription_id: int
    subscriber: str
    grams: int
    points: int
    proof: MerkleProof


class CertificatePage(Out):
    campaign_id: int
    root: str
    retirement_id: int
    tx_hash: str
    batch_id: int
    leaf: str
    page: str
    certificates: list[CertificateEntry]
    next_after: int | None


class OffsetRetirement(Out):
    retirement_id: int
    batch_id: int
    amount: int
    tx_hash: str
    block_number: int


class Offset(Out):
    offset_id: int
    root: str
    orders: int
    total_grams: int
    retirements: list[OffsetRetirement]
    certificates: str
    certificate_page: str


class OffsetLeaves(Out):
    offset_id: int
    root: str
    retirements: list[OffsetRetirement]
    leaf: str
    orders: list[tuple[str, int]]


class Footprint(Out):
    order_id: str
    grams: int
    legs_g: list[float | int]
    packaging_g: list[float | int]


class OrderCertificate(Out):
    order_id: str
    grams: int
    footprint: Footprint
    root: str
    proof: MerkleProof
    offset_id: int
    retirements: list[OffsetRetirement]
    page: str


# --- the regulator --------------------------------------------------------------------------------------------


class SummaryRow(Out):
    """One group's totals; which totals a row carries depends on `group_by`."""

    key: int | str | None
    issued: int | None = None
    issuances: int | None = None
    transferred: int | None = None
    transfers: int | None = None
    retired: int | None = None
    retirements: int | None = None
    reversed: int | None = None
    reversals: int | None = None
    batches: int | None = None
    outstanding: int | None = None
    held: int | None = None


class Difference(Out):
    kind: str
    batch_id: int | None = None
    project_id: int | None = None
    account: str | None = None
    index: Any = None
    chain: Any = None


class Reconciliation(Out):
    block: int
    events: int
    digest: str
    checks: int
    differences: list[Difference]
    consistent: bool


class QueryLogEntry(Out):
    id: int
    at: int
    account: str
    endpoint: str
    params: str
    outcome: str


class AlertEventLink(Out):
    block: int
    log: int
    tx: str
    batch: int
    provenance: str
    page: str


class AlertLinks(Out):
    events: list[AlertEventLink]
    evidence: list[str]
    deals: list[str]
    participants: list[str]


class AlertStep(Out):
    action: str
    status: str
    note: str
    actor: str
    at: int


class Alert(Out):
    """A rule's alert; `evidence` and `details` carry what that rule looked at."""

    key: str
    rule: str
    severity: str
    block_number: int | None
    log_index: int | None
    tx_hash: str | None
    block_time: int
    participants: list[str]
    evidence: list[dict[str, Any]]
    deals: list[int]
    explanation_zh: str
    explanation_en: str
    details: dict[str, Any]
    status: str | None = None
    links: AlertLinks | None = None
    actions: list[AlertStep] | None = None


class Measure(Out):
    id: int
    participant: str
    kind: str
    reason: str
    actor: str
    at: int
    tx_hash: str | None
    details: dict[str, Any]


class Rerun(Out):
    from_block: int
    to_block: int
    alerts: list[Alert]
    by_rule: dict[str, int]
    new: list[str]
    gone: list[str]


class DayVolume(Out):
    day: str
    issued: int
    transferred: int
    transfers: int
    retired: int
    retirements: int


class Totals(Out):
    issued: int
    transferred: int
    retired: int


class ReportPrices(Out):
    deals: int
    median_cny_per_tonne: str | None = None  # absent when no deal closed in the range
    min_cny_per_tonne: str | None = None
    max_cny_per_tonne: str | None = None
    deals_without_reference_price: int


class RuleOutcomes(Out):
    rule: str
    total: int
    open: int | None = None
    acknowledged: int | None = None
    escalated: int | None = None
    closed: int | None = None
    false_positive: int | None = None


class ReconciliationCount(Out):
    checks: int
    differences: int


class FlaggedVerification(Out):
    """A report with plausibility flags whose verifier acknowledged them (node.projects.plausibility)."""

    project_id: int
    evidence_root: str
    flags_count: int
    verifier: str
    acknowledged_at: int
    batch_id: int | None


class SupervisionReport(Out):
    since: str
    until: str
    volumes: list[DayVolume]
    totals: Totals
    prices: ReportPrices
    alerts: list[RuleOutcomes]
    measures: dict[str, int]
    reconciliation: ReconciliationCount
    flagged_verifications: list[FlaggedVerification] = []


# --- what routes declare besides their 200 --------------------------------------------------------------------


def link(method: str, path: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link: which operation an answer's value feeds (clients and the stateful fuzzer follow them)."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method}", "parameters": parameters}


def created(**links: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {201: {"description": "Created", "links": links}}


# A write whose transaction is journalled but not yet known mined answers 202 with its intent (node.writes);
# one whose receipt never came answers 504.
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": Intent,
        "description": "Accepted: the transaction may still be mined; its intent tells its fate",
        "links": {"GetIntent": link("get", "/v1/intents/{intent_id}", intent_id="$response.body#/intent_id")},
    },
    504: {"model": ErrorResponse, "description": "No receipt in time"},
}
LISTING_LINKS = created(
    GetListing=link("get", "/v1/listings/{listing_id}", listing_id="$response.body#/id"),
    MakeOffer=link("post", "/v1/listings/{listing_id}/offers", listing_id="$response.body#/id"),
    OpenCampaign=link("post", "/v1/listings/{listing_id}/campaign", listing_id="$response.body#/id"),
)
OFFER_LINKS = created(
    GetOffer=link("get", "/v1/offers/{offer_id}", offer_id="$response.body#/id"),
    AnswerOffer=link("post", "/v1/offers/{offer_id}/answer", offer_id="$response.body#/id"),
)
CAMPAIGN_LINKS = created(GetCampaign=link("get", "/v1/campaigns/{campaign_id}", campaign_id="$response.body#/id"))
EVIDENCE_LINKS = created(GetEvidence=link("get", "/v1/evidence/{root}", root="$response.body#/evidence_root"))
PROJECT_LINKS = {
    **WRITE_RESPONSES,
    **created(
        GetProject=link("get", "/v1/projects/{project_id}", project_id="$response.body#/result/project_id"),
        GetAccounting=link(
            "get", "/v1/projects/{project_id}/accounting", project_id="$response.body#/result/project_id"
        ),
    ),
}
BATCH_LINKS = {
    **WRITE_RESPONSES,
    **created(
        GetBatch=link("get", "/v1/batches/{batch_id}", batch_id="$response.body#/result/batch_id"),
        GetProvenance=link("get", "/v1/batches/{batch_id}/provenance", batch_id="$response.body#/result/batch_id"),
    ),
}
RETIREMENT_LINKS = {
    **WRITE_RESPONSES,
    **created(
        GetRetirement=link(
            "get", "/v1/retirements/{retirement_id}", retirement_id="$response.body#/result/retirement_id"
        )
    ),
}
CSV = {"text/csv": {"schema": {"type": "string"}}}
IMAGES = {"image/svg+xml": {"schema": {"type": "string"}}, "image/png": {"schema": {"type": "string"}}}
