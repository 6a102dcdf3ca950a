-- Evidence shared with other organisations' nodes: the nonces of signed peer requests already seen (a
-- replay is refused until the nonce's time is far enough in the past to be refused anyway), the grants an
-- owner made, and every grant, fetch and refusal on either side.
CREATE TABLE IF NOT EXISTS peer_nonce (
    signer TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (signer, nonce)
);
CREATE TABLE IF NOT EXISTS evidence_grant (
    root TEXT NOT NULL,
    organisation INTEGER NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (root, organisation)
);
CREATE TABLE IF NOT EXISTS peer_access (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    direction TEXT NOT NULL,
    root TEXT NOT NULL,
    digest TEXT,
    account TEXT NOT NULL,
    organisation INTEGER,
    peer TEXT,
    outcome TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_peer_access_root ON peer_access (root, id);
