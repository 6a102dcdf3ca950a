-- A bank's written reason for declaring a pledge's holder in default: its hash is on the ledger, the text here.
CREATE TABLE IF NOT EXISTS pledge_default (
    pledge_id INTEGER PRIMARY KEY,
    reason TEXT NOT NULL,
    bank TEXT NOT NULL,
    at INTEGER NOT NULL
);
