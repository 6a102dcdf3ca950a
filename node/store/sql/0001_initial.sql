-- The node's store as it stood before numbered migrations (every table of node.sqlite).

CREATE TABLE IF NOT EXISTS api_token (
    token_hash TEXT PRIMARY KEY,
    key_name TEXT NOT NULL,
    account TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS offset_batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    root TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    orders INTEGER NOT NULL,
    total_grams INTEGER NOT NULL,
    retirements TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS offset_order (
    order_id TEXT PRIMARY KEY,
    offset_id INTEGER NOT NULL,
    leaf_index INTEGER NOT NULL,
    grams INTEGER NOT NULL,
    breakdown TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_offset_order_batch ON offset_order (offset_id, leaf_index);
CREATE TABLE IF NOT EXISTS carbon_points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    holder TEXT NOT NULL,
    points INTEGER NOT NULL,
    grams INTEGER NOT NULL,
    source TEXT NOT NULL,
    retirement_ids TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_points_holder ON carbon_points (holder);
CREATE TABLE IF NOT EXISTS accounting (
    evidence_root TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    creditable_grams INTEGER NOT NULL,
    input_hash TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    period_end TEXT NOT NULL DEFAULT ''
);
-- Alerts the node raises itself when data arrives off chain (an ecological loss in a monitoring report):
-- the columns of the index's alert table, with no block, log or transaction.
CREATE TABLE IF NOT EXISTS report_alert (
    key TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    block_number INTEGER,
    log_index INTEGER,
    tx_hash TEXT,
    block_time INTEGER NOT NULL,
    participants TEXT NOT NULL,
    evidence TEXT NOT NULL,
    deals TEXT NOT NULL,
    explanation_zh TEXT NOT NULL,
    explanation_en TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS listing (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seller TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    price_fen_per_tonne INTEGER NOT NULL,
    min_lot INTEGER NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    project_id INTEGER NOT NULL DEFAULT 0,
    vintage INTEGER NOT NULL DEFAULT 0,
    verifier TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    bundle INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_listing_seller ON listing (seller, batch_id);
CREATE INDEX IF NOT EXISTS ix_listing_price ON listing (price_fen_per_tonne, id);
CREATE INDEX IF NOT EXISTS ix_listing_created ON listing (created_at, id);
CREATE INDEX IF NOT EXISTS ix_listing_project ON listing (project_id, id);
CREATE TABLE IF NOT EXISTS custodian (
    address TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS offer (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id INTEGER NOT NULL,
    buyer TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price_fen_per_tonne INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    deal_id INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id INTEGER NOT NULL,
    offer_id INTEGER NOT NULL,
    seller TEXT NOT NULL,
    buyer TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    price_fen_per_tonne INTEGER NOT NULL,
    state TEXT NOT NULL,
    receipt TEXT,
    deal_ref TEXT,
    created_at INTEGER NOT NULL,
    allocation TEXT
);
CREATE INDEX IF NOT EXISTS ix_deal_ref ON deal (deal_ref);
CREATE TABLE IF NOT EXISTS deal_step (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS project_profile (
    project_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    kind TEXT NOT NULL,
    metadata_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deposit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seller TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    drawn_fen INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL,
    custodian TEXT NOT NULL,
    custodian_ref TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    paid_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_deposit_seller ON deposit (seller);
CREATE TABLE IF NOT EXISTS blacklist (
    account TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    listed_by TEXT NOT NULL,
    listed_at INTEGER NOT NULL,
    lifted_at INTEGER,
    lift_reason TEXT
);
CREATE TABLE IF NOT EXISTS compensation_case (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id INTEGER NOT NULL,
    batch_id INTEGER NOT NULL,
    buyer TEXT NOT NULL,
    seller TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    state TEXT NOT NULL,
    amount_fen INTEGER,
    note TEXT,
    opened_at INTEGER NOT NULL,
    resolved_by TEXT,
    resolved_at INTEGER,
    UNIQUE (deal_id, batch_id)
);
CREATE TABLE IF NOT EXISTS bundle_part (
    listing_id INTEGER NOT NULL,
    batch_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (listing_id, batch_id)
);
CREATE TABLE IF NOT EXISTS campaign (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id INTEGER NOT NULL UNIQUE,
    seller TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    target INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    state TEXT NOT NULL,
    root TEXT,
    retirement_id INTEGER,
    tx_hash TEXT,
    closed_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS subscription (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL,
    subscriber TEXT NOT NULL,
    grams INTEGER NOT NULL,
    amount_fen INTEGER NOT NULL,
    channel TEXT NOT NULL,
    receipt_id INTEGER,
    leaf_index INTEGER,
    refund_due INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_subscription_campaign ON subscription (campaign_id, receipt_id);
CREATE TABLE IF NOT EXISTS subscription_receipt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL,
    root TEXT NOT NULL UNIQUE,
    count INTEGER NOT NULL,
    amount_fen INTEGER NOT NULL,
    custodian TEXT NOT NULL,
    sealed TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_action (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_key TEXT NOT NULL,
    rule TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_alert_action_key ON alert_action (alert_key, id);
CREATE TABLE IF NOT EXISTS measure (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    participant TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL,
    tx_hash TEXT,
    details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_measure_participant ON measure (participant, id);
CREATE TABLE IF NOT EXISTS project_review (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_project_review ON project_review (project_id, id);
CREATE TABLE IF NOT EXISTS regulator_query (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    account TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL
);
