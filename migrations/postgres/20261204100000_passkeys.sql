-- Passkeys (WebAuthn credentials), feature `passkeys`.

-- How many passkeys the user has, kept by the trigger below: a passkey
-- counts as a second factor, and a login reads it with the user's row.
ALTER TABLE twofa_users ADD COLUMN passkeys BIGINT NOT NULL DEFAULT 0;

CREATE TABLE twofa_passkeys (
    credential_id   BYTEA   NOT NULL PRIMARY KEY,  -- unique across users
    user_id         BIGINT  NOT NULL REFERENCES twofa_users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    credential      TEXT    NOT NULL,              -- webauthn-rs's Passkey, JSON (public key)
    counter         BIGINT  NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backed_up       BOOLEAN NOT NULL,
    created_at      BIGINT  NOT NULL,              -- ms since the Unix epoch
    last_used_at    BIGINT
);

CREATE INDEX twofa_passkeys_user ON twofa_passkeys (user_id);

CREATE FUNCTION twofa_passkeys_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE twofa_users SET passkeys = passkeys + 1 WHERE id = NEW.user_id;
        RETURN NEW;
    END IF;
    UPDATE twofa_users SET passkeys = passkeys - 1 WHERE id = OLD.user_id;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER twofa_passkeys_count AFTER INSERT OR DELETE ON twofa_passkeys
    FOR EACH ROW EXECUTE FUNCTION twofa_passkeys_count();
