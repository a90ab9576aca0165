-- The demo app's own data about its users (PostgreSQL), beside the
-- library's `twofa_` tables. Applied by the app's migrator
-- (`examples/common/profiles.rs`) and tracked in sqlx's `_sqlx_migrations`;
-- the library tracks its own migrations in `twofa_migrations`.
--
-- `user_id` is the library's `UserId` (`twofa_users.id`). There is no
-- foreign key: the demo also runs on the in-memory store, whose users are
-- not in this database, and the library never deletes users.
CREATE TABLE app_profiles (
    user_id    BIGINT PRIMARY KEY,
    first_name TEXT   NOT NULL DEFAULT '',
    last_name  TEXT   NOT NULL DEFAULT '',
    about_me   TEXT   NOT NULL DEFAULT '',
    last_seen  BIGINT,           -- ms since the Unix epoch, written at most once a minute
    edited_at  BIGINT            -- ms; set when the user saves names or "about me"
                                 -- (then `cli import-flask` leaves the row alone)
);
