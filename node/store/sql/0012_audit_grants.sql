-- Third-party auditors: what a regulator granted (whom, which projects and participants, whether evidence
-- files too, from when until when) and every query an auditor made under a grant, allowed or refused.
CREATE TABLE IF NOT EXISTS audit_grant (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    auditor TEXT NOT NULL,
    name TEXT NOT NULL,
    projects TEXT NOT NULL,
    participants TEXT NOT NULL,
    evidence INTEGER NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_by TEXT
);
CREATE INDEX IF NOT EXISTS ix_audit_grant_auditor ON audit_grant (auditor, id);
CREATE TABLE IF NOT EXISTS audit_query (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    grant_id INTEGER,
    auditor TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_audit_query_grant ON audit_query (grant_id, id);
