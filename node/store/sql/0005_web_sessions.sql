-- A regulator signed in to the site with an API token: the session cookie's hash, the token it stands for
-- (revoking the token ends its sessions), the session's CSRF token and when it expires.
CREATE TABLE IF NOT EXISTS web_session (
    session_hash TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
