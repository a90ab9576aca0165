#!/usr/bin/env python3
"""Builds tests/fixtures/flask_users.db: the `user` table of the Flask
tutorial app ("Two-factor Authentication Using Twilio Verify in Flask"),
with password hashes made by real Werkzeug.

Hashes come from two pinned Werkzeug versions, each in its own venv:
1.0.1 (the tutorial's pin: pbkdf2:sha256:150000) and 3.1.3 (scrypt).
Run from the repository root:

    python3 scripts/flask-fixture.py            # (re)writes the fixture
    python3 scripts/flask-fixture.py --vectors  # prints unit-test vectors

The passwords below are test data; tests/legacy_import.rs logs in with them.
Hashes are salted at random, so every run writes a different file.
"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

VENVS = {
    "werkzeug1": "werkzeug==1.0.1",
    "werkzeug3": "werkzeug==3.1.3",
}
OUT = os.path.join("tests", "fixtures", "flask_users.db")

# (username, email, password, hashed by, hash method, verification_phone)
USERS = [
    ("alice", "alice@example.com", "alice-flask-pw-1", "werkzeug1", "pbkdf2:sha256", None),
    ("bob", "bob@example.com", "bob-scrypt-pw-2", "werkzeug3", "scrypt", None),
    ("carol", "carol@example.com", "carol-phone-pw-3", "werkzeug1", "pbkdf2:sha256", "+1 415 555 2671"),
    # Same address as alice's but for case: refused as a duplicate.
    ("dave", "ALICE@Example.com", "dave-dup-mail-pw-4", "werkzeug1", "pbkdf2:sha256", None),
    # A space is not allowed in our usernames.
    ("eve smith", "eve@example.com", "eve-space-pw-5", "werkzeug1", "pbkdf2:sha256", None),
    # Not a phone number: refused rather than imported without its 2FA.
    ("frank", "frank@example.com", "frank-bad-phone-pw-6", "werkzeug1", "pbkdf2:sha256", "12345"),
    # Werkzeug 1.0's salted HMAC-SHA256 (no key stretching): not accepted.
    ("grace", "grace@example.com", "grace-hmac-pw-7", "werkzeug1", "sha256", None),
]

HASH_SNIPPET = """
import json, sys
from werkzeug.security import generate_password_hash
print(json.dumps([generate_password_hash(p, method=m) for p, m in json.loads(sys.argv[1])]))
"""

# Small parameters, so the unit tests stay fast.
VECTORS = {
    "werkzeug1": [("légacy pässword", "pbkdf2:sha1:1000"), ("legacy password", "pbkdf2:sha512:1000"),
                  ("legacy password", "pbkdf2:sha256:1000")],
    "werkzeug3": [("legacy password", "scrypt:1024:8:1")],
}


def venv_python(root, name):
    path = os.path.join(root, name)
    py = os.path.join(path, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", VENVS[name]], check=True)
    return py


def hashes(py, pairs):
    out = subprocess.run([py, "-c", HASH_SNIPPET, json.dumps(pairs)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    root = os.environ.get("FLASK_FIXTURE_VENVS") or tempfile.mkdtemp(prefix="flask-fixture-")
    pys = {name: venv_python(root, name) for name in VENVS}
    if "--vectors" in sys.argv:
        for name, pairs in VECTORS.items():
            for (pw, _), h in zip(pairs, hashes(pys[name], pairs)):
                print(json.dumps({"password": pw, "hash": h}, ensure_ascii=False))
        return
    made = {}
    for name in VENVS:
        pairs = [(u[2], u[4]) for u in USERS if u[3] == name]
        made[name] = iter(hashes(pys[name], pairs))
    if os.path.exists(OUT):
        os.remove(OUT)
    db = sqlite3.connect(OUT)
    # The tutorial's model (Flask-SQLAlchemy, SQLite), as `flask db upgrade` creates it.
    db.executescript("""
        CREATE TABLE user (
            id INTEGER NOT NULL PRIMARY KEY,
            username VARCHAR(64),
            email VARCHAR(120),
            password_hash VARCHAR(128),
            about_me VARCHAR(140),
            last_seen DATETIME,
            verification_phone VARCHAR(16)
        );
        CREATE UNIQUE INDEX ix_user_username ON user (username);
        CREATE UNIQUE INDEX ix_user_email ON user (email);
    """)
    for i, (user, email, _pw, by, _m, phone) in enumerate(USERS, start=1):
        about = "Hi, I am %s." % user if i % 2 else None
        db.execute("INSERT INTO user VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (i, user, email, next(made[by]), about, "2021-03-0%d 10:00:00.000000" % i, phone))
    db.commit()
    db.execute("VACUUM")
    db.close()
    print("wrote", OUT)


if __name__ == "__main__":
    main()
