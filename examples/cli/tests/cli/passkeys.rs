//! `passkeys list` and `passkeys remove`. The CLI cannot create a passkey,
//! so the tests put them in the database through the library's store API
//! (`UserStore::add_passkey`), as the web demo's registration would.

use serde_json::Value;
use twofa_verify::Timestamp;
use twofa_verify::store::{PasskeyRecord, SqliteStore, UserStore};

use crate::flows::{enable_sms, register_and_login};
use crate::support::Dir;

const PW: &str = "correct horse battery\n";
const PHONE: &str = "+14155552671";

/// Stores a passkey named `name` for `username`; its id as the CLI shows
/// it (base64url of `credential_id`).
fn seed(d: &Dir, username: &str, name: &str, credential_id: &[u8], backed_up: bool) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = SqliteStore::open(&d.db()).await.expect("open");
        let user = store
            .user_by_username(username)
            .await
            .expect("read")
            .expect("the user");
        store
            .add_passkey(&PasskeyRecord {
                user: user.id,
                credential_id: credential_id.to_vec(),
                name: name.to_owned(),
                // Listing and removal never read the credential itself.
                credential: "{}".to_owned(),
                counter: 0,
                backup_eligible: backed_up,
                backed_up,
                created_at: Timestamp::from_millis(1_700_000_000_000),
                last_used_at: None,
            })
            .await
            .expect("stored");
        store.pool().close().await;
    });
    data_encoding::BASE64URL_NOPAD.encode(credential_id)
}

/// The names `passkeys list` shows, in order.
fn names(d: &Dir) -> Vec<String> {
    let j = d.expect(&["passkeys", "list"], "", 0).json();
    j["passkeys"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn list_then_remove_by_name_and_by_id_after_a_step_up() {
    let d = Dir::with_database();
    register_and_login(&d, "pat");
    let j = d.expect(&["passkeys", "list"], "", 0).json();
    assert_eq!(j["passkeys"], Value::Array(vec![]));
    let recovery = enable_sms(&d);
    assert_eq!(recovery.len(), 10);
    let laptop = seed(&d, "pat", "Laptop", &[1; 16], true);
    let key = seed(&d, "pat", "YubiKey", &[2; 16], false);

    // Support sees them too.
    let j = d.expect(&["admin", "find", "pat"], "", 0).json();
    assert_eq!(j["user"]["passkeys"], 2, "{j}");
    let text = d.run(&["admin", "find", "pat"], "");
    assert!(text.stdout.contains("2FA: SMS and 2 passkeys"), "{text:?}");

    let j = d.expect(&["passkeys", "list"], "", 0).json();
    let list = j["passkeys"].as_array().expect("a list");
    assert_eq!(list.len(), 2, "{j}");
    assert_eq!(list[0]["id"], laptop.as_str());
    assert_eq!(list[0]["name"], "Laptop");
    assert_eq!(list[0]["created_at"], 1_700_000_000_000_u64);
    assert_eq!(list[0]["last_used_at"], Value::Null);
    assert_eq!(list[0]["backed_up"], true);
    assert_eq!(list[1]["backup_eligible"], false);
    let text = d.run(&["passkeys", "list"], "");
    assert_eq!(text.code, 0, "{text:?}");
    for word in [
        &laptop,
        "Laptop",
        "synced to other devices",
        "YubiKey",
        "on one device only",
        "never used",
    ] {
        assert!(text.stdout.contains(word), "{word}: {text:?}");
    }

    // A name or id that is not one of them: refused before any step-up.
    d.fails(
        &["passkeys", "remove", "--name", "Phone"],
        "",
        2,
        "unknown_passkey",
    );
    d.fails(&["passkeys", "remove", "AAAA"], "", 2, "unknown_passkey");
    d.fails(&["passkeys", "remove"], "", 2, "usage");

    // A wrong code keeps it.
    let r = d.expect(&["passkeys", "remove", "--name", "Laptop"], "", 6);
    let code = r.sms_code(PHONE);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    d.fails(
        &[
            "passkeys",
            "remove",
            "--name",
            "Laptop",
            "--code",
            wrong,
            "--password-stdin",
        ],
        PW,
        3,
        "invalid_code",
    );
    assert_eq!(names(&d), ["Laptop", "YubiKey"]);

    // The texted code still works after the wrong one.
    let j = d
        .expect(
            &[
                "passkeys",
                "remove",
                "--name",
                "Laptop",
                "--code",
                &code,
                "--password-stdin",
            ],
            PW,
            0,
        )
        .json();
    assert_eq!(j["status"], "passkey_removed");
    assert_eq!(j["passkey"]["id"], laptop.as_str());
    assert_eq!(j["factors"], serde_json::json!(["sms", "passkey"]));
    assert_eq!(names(&d), ["YubiKey"]);
    // The session goes on (restamped); the last one goes by its id, with
    // a recovery code.
    let j = d
        .expect(
            &[
                "passkeys",
                "remove",
                &key,
                "--code",
                &recovery[0],
                "--password-stdin",
            ],
            PW,
            0,
        )
        .json();
    assert_eq!(j["factors"], serde_json::json!(["sms"]));
    assert_eq!(names(&d), Vec::<String>::new());
}

#[test]
fn another_users_passkey_and_an_ambiguous_name_are_refused() {
    let d = Dir::with_database();
    d.register("quinn", PW);
    let theirs = seed(&d, "quinn", "Laptop", &[7; 16], true);
    register_and_login(&d, "pat");
    enable_sms(&d);
    seed(&d, "pat", "Laptop", &[8; 16], true);
    seed(&d, "pat", "Laptop", &[9; 16], true);
    // Quinn's id is unknown to pat, asked before any code is sent.
    d.fails(&["passkeys", "remove", &theirs], "", 2, "unknown_passkey");
    d.fails(
        &[
            "passkeys",
            "remove",
            &theirs,
            "--code",
            "123456",
            "--password-stdin",
        ],
        PW,
        2,
        "unknown_passkey",
    );
    d.fails(
        &["passkeys", "remove", "--name", "Laptop"],
        "",
        2,
        "ambiguous_passkey",
    );
    assert_eq!(names(&d), ["Laptop", "Laptop"]);
    // Quinn's is still there.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let left = rt.block_on(async {
        let store = SqliteStore::open(&d.db()).await.expect("open");
        let quinn = store
            .user_by_username("quinn")
            .await
            .expect("read")
            .expect("quinn");
        let n = store.passkeys(quinn.id).await.expect("read").len();
        store.pool().close().await;
        n
    });
    assert_eq!(left, 1);
}
