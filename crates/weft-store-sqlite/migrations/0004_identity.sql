-- Keys access tokens are signed with (RS256). The newest signs; all verify.
CREATE TABLE signing_key (
    kid TEXT PRIMARY KEY NOT NULL,
    private_pem TEXT NOT NULL,
    created_at TEXT NOT NULL
);
