-- Credit ratings: a dispute's decision names the party it went against; each fact that moves a participant's
-- score is recorded once (its key: the participant, the kind of fact and what it is about), and the running
-- score kept beside. The delivery dates of offers and deals are columns added by the migration itself.
CREATE TABLE IF NOT EXISTS dispute_decision (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    against TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_dispute_decision_deal ON dispute_decision (deal_id);
CREATE TABLE IF NOT EXISTS credit_fact (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    points INTEGER NOT NULL,
    public INTEGER NOT NULL,
    at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (account, kind, ref)
);
CREATE INDEX IF NOT EXISTS ix_credit_fact_account ON credit_fact (account, at);
CREATE TABLE IF NOT EXISTS credit_score (
    account TEXT PRIMARY KEY,
    public_points INTEGER NOT NULL,
    all_points INTEGER NOT NULL,
    facts INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
