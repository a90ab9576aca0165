-- twofa-verify: users, recovery codes and short-lived state (SQLite).
-- Every object is prefixed with `twofa_` so that the tables can live in an
-- application's own database without colliding with its tables.

CREATE TABLE twofa_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT, -- ids are never reused
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL,                  -- lower case, unique
    email         TEXT    NOT NULL,                  -- lower case, unique
    password_hash TEXT    NOT NULL,                  -- PHC string
    phone         TEXT,                              -- E.164, SMS factor
    totp_key_id   INTEGER,                           -- TOTP secret: sealing key id ...
    totp_sealed   BLOB,                              -- ... and nonce + ciphertext + tag
    created_at    INTEGER NOT NULL,                  -- ms since the Unix epoch
    CONSTRAINT twofa_users_username_key_uniq UNIQUE (username_key),
    CONSTRAINT twofa_users_email_uniq UNIQUE (email),
    CONSTRAINT twofa_users_totp_check CHECK ((totp_key_id IS NULL) = (totp_sealed IS NULL))
);

CREATE TABLE twofa_recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES twofa_users (id) ON DELETE CASCADE,
    code_hash BLOB    NOT NULL CHECK (length(code_hash) = 32), -- keyed hash of the code
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

-- Short-lived state. `value` holds the bytes of put/put_if_absent entries,
-- `num` the number of increment/advance entries (the two kinds of keys never
-- collide). An entry whose expires_at <= now is absent.
CREATE TABLE twofa_state (
    key        TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL,
    num        INTEGER NOT NULL,
    expires_at INTEGER NOT NULL -- ms since the Unix epoch
) WITHOUT ROWID;

CREATE INDEX twofa_state_expires_at ON twofa_state (expires_at);
