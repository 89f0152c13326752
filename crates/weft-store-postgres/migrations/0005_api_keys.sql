-- fence API keys: the key is a signed JWT the user keeps; this row lets it be listed and
-- revoked (an exchange checks it).
CREATE TABLE api_key (
    jti TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX api_key_username_idx ON api_key (username);
