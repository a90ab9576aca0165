//! Vectors made by `scripts/flask-fixture.py --vectors` (Werkzeug 1.0.1 for
//! PBKDF2, 3.1.3 for scrypt) and Python bcrypt 4.3.0 (`hashpw`, cost 4).

use super::*;

const SHA1: &str = "pbkdf2:sha1:1000$GMXxt9OQ$30a74e485b95adf3961a3616906e0d1e729cd5ec";
const SHA256: &str =
    "pbkdf2:sha256:1000$XooVla7o$ad2cdc9849313f826ff4a88ecb607540de4d0166d2cfc8430af4fe2b0ec67e87";
const SHA512: &str = "pbkdf2:sha512:1000$xKzQ0ldR$a273913dc797e8b84599add5258d82d4f4731c81363012605aa385069a985c0da1da717b0411e778776dee2ca5ec75413e51ebcee5e342dca75912420bca4c94";
const SCRYPT: &str = "scrypt:1024:8:1$jXLIeAulEMxbhSfJ$bfb40d509cf1bf3f89a7efab5a436aeb8d1a80ae64f8334eded8fe8fedd983352efa55d888ee7945e211f658aaaebb0281f5058940c4d2de94a03b0ddf7ae372";
const BCRYPT: &str = "$2b$04$aD5Iv8QWsV3I3lybhYyAdepNlxX.T3ijK98FtyZHbW52MaeZ1W4ua";

const PW: &[u8] = b"legacy password";

#[test]
fn werkzeug_pbkdf2_vectors() {
    let v = WerkzeugPbkdf2::new();
    for h in [SHA1, SHA256, SHA512] {
        assert!(v.recognizes(h));
    }
    // The sha1 vector's password is not ASCII: UTF-8 bytes, as Werkzeug hashed them.
    assert!(v.verify("légacy pässword".as_bytes(), SHA1).unwrap());
    assert!(!v.verify(PW, SHA1).unwrap());
    assert!(v.verify(PW, SHA256).unwrap());
    assert!(v.verify(PW, SHA512).unwrap());
    assert!(!v.verify(b"legacy passwore", SHA256).unwrap());
    assert!(!v.verify(b"legacy passwore", SHA512).unwrap());
    // Tampered salt, iterations, digest name, or truncated hex: no.
    assert!(
        !v.verify(PW, &SHA256.replace("XooVla7o", "XooVla7p"))
            .unwrap()
    );
    assert!(!v.verify(PW, &SHA256.replace(":1000$", ":1001$")).unwrap());
    assert!(!v.verify(PW, &SHA256.replace("sha256", "sha512")).unwrap());
    assert!(!v.verify(PW, &SHA256[..SHA256.len() - 2]).unwrap());
    assert!(!v.verify(PW, &SHA256.replace("ad2c", "AD2C")).unwrap());
    // Not ours.
    assert!(!v.recognizes(SCRYPT));
    assert!(!v.recognizes(BCRYPT));
    assert!(!v.recognizes("pbkdf2_sha256$1000$salt$abc"));
}

#[test]
fn werkzeug_pbkdf2_default_iterations_and_bounds() {
    // Without a count, the configured default applies (Werkzeug's own rule).
    let no_count = SHA256.replace(":1000$", "$");
    assert!(!WerkzeugPbkdf2::new().verify(PW, &no_count).unwrap());
    let v = WerkzeugPbkdf2::new().default_iterations(1000);
    assert!(v.verify(PW, &no_count).unwrap());
    assert!(v.verify(PW, &SHA256.replace(":1000$", ":0$")).unwrap());
    // Above the bound: refused without computing.
    let capped = WerkzeugPbkdf2::new().max_iterations(999);
    assert!(!capped.verify(PW, SHA256).unwrap());
    let huge = SHA256.replace(":1000$", ":4000000000$");
    let t = std::time::Instant::now();
    assert!(!WerkzeugPbkdf2::new().verify(PW, &huge).unwrap());
    assert!(t.elapsed() < std::time::Duration::from_millis(100));
    for bad in [
        "pbkdf2:sha256:x$a$00",
        "pbkdf2:md5:1000$a$00",
        "pbkdf2:sha256:1:2$a$00",
        "pbkdf2:sha256",
        "$$",
    ] {
        assert!(!WerkzeugPbkdf2::new().verify(PW, bad).unwrap(), "{bad}");
    }
}

#[test]
fn werkzeug_scrypt_vectors_and_bounds() {
    let v = WerkzeugScrypt::new();
    assert!(v.recognizes(SCRYPT));
    assert!(!v.recognizes(SHA256));
    assert!(v.verify(PW, SCRYPT).unwrap());
    assert!(!v.verify(b"legacy passwore", SCRYPT).unwrap());
    assert!(!v.verify(PW, &SCRYPT.replace(":1024:", ":2048:")).unwrap());
    // N not a power of two, absurd N or r: refused at once.
    for bad in [
        SCRYPT.replace(":1024:", ":1000:"),
        SCRYPT.replace(":1024:", ":1073741824:"),
        SCRYPT.replace(":8:1$", ":4294967295:1$"),
        SCRYPT.replace(":8:1$", ":8:0$"),
        "scrypt:1024:8$a$00".to_owned(),
    ] {
        let t = std::time::Instant::now();
        assert!(!v.verify(PW, &bad).unwrap(), "{bad}");
        assert!(t.elapsed() < std::time::Duration::from_millis(100));
    }
    assert!(
        !WerkzeugScrypt::new()
            .max_memory(1024)
            .verify(PW, SCRYPT)
            .unwrap()
    );
}

#[test]
fn bcrypt_vectors_and_bounds() {
    let v = Bcrypt::new();
    assert!(v.recognizes(BCRYPT));
    assert!(v.recognizes(&BCRYPT.replace("$2b$", "$2y$")));
    assert!(!v.recognizes(SHA256));
    assert!(v.verify(PW, BCRYPT).unwrap());
    assert!(!v.verify(b"legacy passwore", BCRYPT).unwrap());
    assert!(!v.verify(PW, &BCRYPT.replace("$2b$04$", "$2b$05$")).unwrap());
    // The bound is at least bcrypt's own minimum, 4.
    assert!(Bcrypt::new().max_cost(3).verify(PW, BCRYPT).unwrap());
    assert!(
        !Bcrypt::new()
            .max_cost(4)
            .within_bounds(&BCRYPT.replace("$2b$04$", "$2b$05$"))
    );
    assert!(!v.verify(PW, "$2b$31$short").unwrap());
    assert!(
        !v.verify(PW, &BCRYPT.replace("$2b$04$", "$2b$31$"))
            .is_ok_and(|x| x)
    );
}

#[test]
fn dummy_hashes_are_well_formed_and_wrong() {
    let verifiers: [&dyn LegacyHashVerifier; 3] = [
        &WerkzeugPbkdf2::new().max_iterations(10),
        &WerkzeugScrypt::new().max_memory(64 * 1024),
        &Bcrypt::new().max_cost(4),
    ];
    for v in verifiers {
        for d in v.dummy_hashes() {
            assert!(v.recognizes(&d), "{d}");
            assert!(v.within_bounds(&d), "{d}");
            assert!(!v.verify(PW, &d).unwrap(), "{d}");
        }
    }
}

/// The dummy hash sits at the bound: the dearest hash a verifier accepts,
/// so an unknown-user login costs at least as much as any stored hash.
#[test]
fn dummy_hashes_sit_at_the_bound() {
    let d = WerkzeugPbkdf2::new().dummy_hashes();
    assert!(d[0].starts_with("pbkdf2:sha256:1000000$"), "{d:?}");
    assert!(d[1].starts_with("pbkdf2:sha512:500000$"), "{d:?}");
    assert!(d[2].starts_with("pbkdf2:sha1:1000000$"), "{d:?}");
    let d = WerkzeugPbkdf2::new()
        .max_iterations(260_000)
        .dummy_hash()
        .unwrap();
    assert!(d.starts_with("pbkdf2:sha256:260000$"), "{d}");
    // SHA-512 iterations count twice against the bound.
    let v = WerkzeugPbkdf2::new().max_iterations(2000);
    assert!(v.within_bounds(SHA512));
    assert!(
        !WerkzeugPbkdf2::new()
            .max_iterations(1999)
            .within_bounds(SHA512)
    );
    assert!(
        WerkzeugPbkdf2::new()
            .max_iterations(1000)
            .within_bounds(SHA256)
    );
    let d = WerkzeugScrypt::new().dummy_hash().unwrap();
    assert!(d.starts_with("scrypt:32768:8:1$"), "{d}");
    let d = WerkzeugScrypt::new()
        .max_memory(100 << 20)
        .dummy_hash()
        .unwrap();
    assert!(d.starts_with("scrypt:65536:8:1$"), "{d}");
    let d = Bcrypt::new().dummy_hash().unwrap();
    assert!(d.starts_with("$2b$12$"), "{d}");
    let d = Bcrypt::new().max_cost(14).dummy_hash().unwrap();
    assert!(d.starts_with("$2b$14$"), "{d}");
}

/// Bounds can be raised only to a ceiling: a crafted hash (or a mistaken
/// setting) cannot make one verify burn minutes of CPU. Beyond the bound,
/// a hash is refused at once and `within_bounds` says so.
#[test]
fn bounds_have_a_ceiling() {
    let pbkdf2 = WerkzeugPbkdf2::new().max_iterations(u32::MAX);
    let over = SHA256.replace(":1000$", ":10000001$");
    assert!(!pbkdf2.within_bounds(&over));
    assert!(pbkdf2.within_bounds(&SHA256.replace(":1000$", ":10000000$")));
    assert!(!WerkzeugPbkdf2::new().within_bounds(&SHA256.replace(":1000$", ":1000001$")));
    // Werkzeug 3.1's default is within the default bound.
    assert!(WerkzeugPbkdf2::new().within_bounds(&SHA256.replace(":1000$", ":1000000$")));
    let t = std::time::Instant::now();
    assert!(!pbkdf2.verify(PW, &over).unwrap());
    assert!(t.elapsed() < std::time::Duration::from_millis(100));

    let scrypt = WerkzeugScrypt::new().max_memory(u64::MAX);
    assert!(!scrypt.within_bounds(&SCRYPT.replace(":1024:8:1$", ":1048576:8:2$")));
    assert!(scrypt.within_bounds(&SCRYPT.replace(":1024:8:1$", ":1048576:8:1$")));
    // p multiplies the work (not the memory): bounded as well.
    assert!(!WerkzeugScrypt::new().within_bounds(&SCRYPT.replace(":8:1$", ":8:33$")));
    assert!(WerkzeugScrypt::new().within_bounds(&SCRYPT.replace(":8:1$", ":8:32$")));

    let bcrypt = Bcrypt::new().max_cost(31);
    assert!(!bcrypt.within_bounds(&BCRYPT.replace("$2b$04$", "$2b$17$")));
    assert!(bcrypt.within_bounds(&BCRYPT.replace("$2b$04$", "$2b$16$")));
    assert!(!Bcrypt::new().within_bounds(&BCRYPT.replace("$2b$04$", "$2b$13$")));
    let t = std::time::Instant::now();
    assert!(
        !bcrypt
            .verify(PW, &BCRYPT.replace("$2b$04$", "$2b$31$"))
            .unwrap()
    );
    assert!(t.elapsed() < std::time::Duration::from_millis(100));
}

/// `check` names why a hash can never verify, by the rules `verify` applies
/// (one definition): the vectors pass, and every hash it refuses fails to
/// verify with the right password, at once.
#[test]
fn check_names_what_makes_a_hash_unusable() {
    use HashProblem::*;
    let pbkdf2 = WerkzeugPbkdf2::new();
    let scrypt = WerkzeugScrypt::new();
    let bcrypt = Bcrypt::new().max_cost(12);
    let verifiers: [&dyn LegacyHashVerifier; 3] = [&pbkdf2, &scrypt, &bcrypt];
    for (v, good) in verifiers.iter().zip([SHA256, SCRYPT, BCRYPT]) {
        assert_eq!(v.check(good), Ok(()), "{good}");
    }
    assert_eq!(pbkdf2.check(SHA1), Ok(()));
    assert_eq!(pbkdf2.check(SHA512), Ok(()));
    let sha256_hex = SHA256.rsplit('$').next().unwrap();
    let cases: Vec<(&dyn LegacyHashVerifier, String, HashProblem)> = vec![
        // Absurd cost.
        (&pbkdf2, SHA256.replace(":1000$", ":99999999$"), BeyondBound),
        (&pbkdf2, SHA512.replace(":1000$", ":600000$"), BeyondBound),
        // N = 2^20, r = 8: 1 GiB.
        (
            &scrypt,
            SCRYPT.replace(":1024:8:1$", ":1048576:8:1$"),
            BeyondBound,
        ),
        (
            &scrypt,
            SCRYPT.replace(":8:1$", ":4294967295:1$"),
            BeyondBound,
        ),
        (&bcrypt, BCRYPT.replace("$2b$04$", "$2b$13$"), BeyondBound),
        // Missing or truncated digest, or not the hex Werkzeug wrote.
        (&pbkdf2, SHA256.replace(sha256_hex, ""), Digest),
        (&pbkdf2, "pbkdf2:sha256:1000$XooVla7o".to_owned(), Digest),
        (&pbkdf2, SHA256[..SHA256.len() - 2].to_owned(), Digest),
        (&pbkdf2, SHA256.replace("ad2c", "AD2C"), Digest),
        (&pbkdf2, SHA256.replace("ad2c", "zz2c"), Digest),
        (&pbkdf2, SHA256.replace("sha256", "sha512"), Digest),
        (&scrypt, SCRYPT[..SCRYPT.len() - 64].to_owned(), Digest),
        (&bcrypt, BCRYPT[..BCRYPT.len() - 1].to_owned(), Digest),
        (&bcrypt, BCRYPT.replace("W4ua", "W4u!"), Digest),
        // Bad salt.
        (&pbkdf2, SHA256.replace("XooVla7o", ""), Salt),
        (&scrypt, SCRYPT.replace("jXLIeAulEMxbhSfJ", ""), Salt),
        (&bcrypt, BCRYPT.replace("aD5Iv8QW", "aD5Iv8Q!"), Salt),
        (&bcrypt, "$2b$04$aD5Iv8QW".to_owned(), Salt),
        // Impossible parameters.
        (&pbkdf2, SHA256.replace("sha256", "md5"), Parameters),
        (&scrypt, SCRYPT.replace(":1024:", ":1000:"), Parameters),
        (&scrypt, SCRYPT.replace(":8:1$", ":8:0$"), Parameters),
        (&scrypt, SCRYPT.replace(":8:1$", ":0:1$"), Parameters),
        (&bcrypt, BCRYPT.replace("$2b$04$", "$2b$03$"), Parameters),
        // Not the format's layout.
        (&pbkdf2, SHA256.replace(":1000$", ":x$"), Malformed),
        (&pbkdf2, SHA256.replace(":1000$", ":1:2$"), Malformed),
        (&pbkdf2, format!("{SHA256}$extra"), Malformed),
        (&pbkdf2, "pbkdf2:sha256".to_owned(), Malformed),
        (&scrypt, SCRYPT.replace(":1024:8:1$", ":1024:8$"), Malformed),
        (&bcrypt, "$2b$x4$".to_owned(), Malformed),
        (&bcrypt, "$2b$04".to_owned(), Malformed),
    ];
    for (v, hash, problem) in cases {
        assert_eq!(v.check(&hash), Err(problem), "{hash}");
        assert_eq!(
            v.within_bounds(&hash),
            problem != BeyondBound,
            "within_bounds is the bound alone: {hash}"
        );
        let t = std::time::Instant::now();
        assert!(!v.verify(PW, &hash).unwrap_or(false), "{hash}");
        assert!(
            t.elapsed() < std::time::Duration::from_millis(100),
            "{hash}"
        );
    }
    // Every answer reads as a reason.
    assert_eq!(
        crate::Error::UnusablePasswordHash(Digest).to_string(),
        "unusable password hash: its digest is missing, truncated or malformed"
    );
}
