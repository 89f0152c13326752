-- OAuth2/OIDC: registered clients, authorization codes, refresh tokens and browser
-- sessions. Codes and sessions are kept under the SHA-256 of their value, client secrets
-- as password hashes. List columns hold JSON arrays.
CREATE TABLE oauth_client (
    client_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    allowed_scopes TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    auto_approve BOOLEAN NOT NULL,
    owner TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE oauth_code (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    username TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    code_challenge_method TEXT,
    auth_time BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX oauth_code_expires_idx ON oauth_code (expires_at);

CREATE TABLE refresh_token (
    jti TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    client_id TEXT NOT NULL,
    code_hash TEXT,
    expires_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_token_code_idx ON refresh_token (code_hash);
CREATE INDEX refresh_token_client_idx ON refresh_token (client_id);
CREATE INDEX refresh_token_expires_idx ON refresh_token (expires_at);

CREATE TABLE login_session (
    id_hash TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    idp TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_session_expires_idx ON login_session (expires_at);
