-- Sign-ins of users whom a second-factor requirement applies to while they
-- have no second factor: the grace period counts from `since` and in
-- `sign_ins`. One upsert both starts and counts (atomic under concurrent
-- logins); a row outlives restarts so the grace never starts over.
CREATE TABLE twofa_second_factor_grace (
    user_id  BIGINT NOT NULL PRIMARY KEY REFERENCES twofa_users (id) ON DELETE CASCADE,
    since    BIGINT NOT NULL,          -- ms since the Unix epoch: the first such sign-in
    sign_ins BIGINT NOT NULL CHECK (sign_ins >= 1)
);
