-- ESG retirement statements as issued: the canonical JSON (its SHA-256 is the statement's hash), the node's
-- signature over that hash, and the PDF and CSV exactly as handed out, with their own SHA-256 so that a copy
-- brought back can be told apart from an altered one.
CREATE TABLE IF NOT EXISTS esg_statement (
    hash TEXT PRIMARY KEY,
    organisation INTEGER NOT NULL,
    first_day TEXT NOT NULL,
    last_day TEXT NOT NULL,
    body TEXT NOT NULL,
    signer TEXT NOT NULL,
    signature TEXT NOT NULL,
    pdf BLOB NOT NULL,
    csv BLOB NOT NULL,
    pdf_sha256 TEXT NOT NULL,
    csv_sha256 TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_esg_statement_pdf ON esg_statement (pdf_sha256);
CREATE INDEX IF NOT EXISTS ix_esg_statement_csv ON esg_statement (csv_sha256);
CREATE INDEX IF NOT EXISTS ix_esg_statement_organisation ON esg_statement (organisation, created_at);
