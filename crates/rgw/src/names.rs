//! Names and credentials: user id rules, generated access keys, secrets and tokens,
//! and the shapes that tell a token from an access key.
//!
//! - uid: 3–64 characters of `a-z 0-9 _ -`, starting with a letter (`alice_physics`),
//!   but not `anonymous` (the owner of what unsigned requests write);
//! - access key: 20 characters `CK` + `A-Z 0-9` when generated; given keys may use
//!   3–128 characters of `A-Z a-z 0-9 . _ -` but never the token shape;
//! - secret key: 40 characters of `A-Z a-z 0-9` when generated; given secrets 8–128
//!   printable ASCII characters without spaces;
//! - token: `ctk` + 61 characters of `A-Z a-z 0-9` (64 in all, ~360 bits of entropy),
//!   stored only as its SHA-256;
//! - bucket, upload and object instance ids: 32 lower-case hex digits of a UUIDv7, so
//!   an id tells when it was made ([`instance_id_time_ms`]; ids made before were
//!   UUIDv4 and tell nothing).

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::{RgwError, RgwResult};

/// Length of a token.
pub const TOKEN_LEN: usize = 64;
const TOKEN_PREFIX: &str = "ctk";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn random_from(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// Checks a user id.
pub fn validate_uid(uid: &str) -> RgwResult<()> {
    let ok = (3..=64).contains(&uid.len())
        && uid.as_bytes()[0].is_ascii_lowercase()
        && uid
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    // `anonymous` owns what unsigned requests write (crate::acl::ANONYMOUS_OWNER).
    if ok && uid != crate::acl::ANONYMOUS_OWNER {
        Ok(())
    } else {
        Err(RgwError::InvalidUid(uid.to_string()))
    }
}

/// A new access key.
pub fn new_access_key() -> String {
    format!("CK{}", random_from(UPPER_ALNUM, 18))
}

/// A new secret key.
pub fn new_secret_key() -> String {
    random_from(ALNUM, 40)
}

/// A new token.
pub fn new_token() -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        random_from(ALNUM, TOKEN_LEN - TOKEN_PREFIX.len())
    )
}

/// A short public id for a token (shown by `token ls`, used by `token revoke`).
pub fn new_token_id() -> String {
    random_from(b"abcdefghijklmnopqrstuvwxyz0123456789", 12)
}

/// Whether an access key has the shape of a token.
pub fn is_token_shaped(key: &str) -> bool {
    key.len() == TOKEN_LEN
        && key.starts_with(TOKEN_PREFIX)
        && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// SHA-256 of a token, hex: the only form in which tokens are stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks an access key given by an operator.
pub fn validate_access_key(key: &str) -> RgwResult<()> {
    let bad = |reason| {
        Err(RgwError::InvalidCredential {
            what: "access key",
            reason,
        })
    };
    if !(3..=128).contains(&key.len()) {
        return bad("use 3 to 128 characters");
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("use only A-Z a-z 0-9 . _ -");
    }
    if is_token_shaped(key) {
        return bad("it has the shape of a token (ctk + 61 letters and digits)");
    }
    Ok(())
}

/// Checks a secret key given by an operator.
pub fn validate_secret_key(secret: &str) -> RgwResult<()> {
    if !(8..=128).contains(&secret.len()) {
        return Err(RgwError::InvalidCredential {
            what: "secret key",
            reason: "use 8 to 128 characters",
        });
    }
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RgwError::InvalidCredential {
            what: "secret key",
            reason: "use printable ASCII without spaces",
        });
    }
    Ok(())
}

/// A request id as S3 prints them (16 upper-case hex digits).
pub fn new_request_id() -> String {
    random_from(b"0123456789ABCDEF", 16)
}

/// Length of an id made by [`new_instance_id`].
pub const INSTANCE_ID_LEN: usize = 32;

/// A unique id for buckets, uploads and object instances: a UUIDv7 as 32 lower-case
/// hex digits. Its first 48 bits are the creation time (unix milliseconds), so ids of
/// one bucket sort by age and [`instance_id_time_ms`] can tell how old data is.
pub fn new_instance_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Whether `s` has the shape of an id made by [`new_instance_id`] (of either UUID
/// version): 32 lower-case hex digits.
pub fn is_instance_id(s: &str) -> bool {
    s.len() == INSTANCE_ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// When the id `id` was made (unix milliseconds), if it is a UUIDv7 in the shape of
/// [`new_instance_id`]; `None` for the UUIDv4 ids made before, and for anything else.
pub fn instance_id_time_ms(id: &str) -> Option<u64> {
    if !is_instance_id(id) {
        return None;
    }
    let u = uuid::Uuid::try_parse(id).ok()?;
    if u.get_version() != Some(uuid::Version::SortRand) || u.get_variant() != uuid::Variant::RFC4122
    {
        return None;
    }
    let (secs, nanos) = u.get_timestamp()?.to_unix();
    Some(
        secs.saturating_mul(1000)
            .saturating_add(u64::from(nanos / 1_000_000)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_follow_the_name_org_style() {
        for ok in ["alice_physics", "bob_chem", "admin", "a-b"] {
            assert!(validate_uid(ok).is_ok(), "{ok}");
        }
        for bad in [
            "Alice",
            "al",
            "1alice",
            "alice physics",
            "",
            "ä_phys",
            &"a".repeat(65),
        ] {
            assert!(validate_uid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_credentials_have_their_shapes() {
        let ak = new_access_key();
        assert_eq!(ak.len(), 20);
        assert!(validate_access_key(&ak).is_ok());
        assert!(!is_token_shaped(&ak));
        let sk = new_secret_key();
        assert!(validate_secret_key(&sk).is_ok());
        let t = new_token();
        assert!(is_token_shaped(&t), "{t}");
        assert!(validate_access_key(&t).is_err());
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(new_token(), t);
    }

    #[test]
    fn instance_ids_are_v7_and_tell_their_time() {
        let before = crate::records::now_ms();
        let id = new_instance_id();
        let after = crate::records::now_ms();
        assert!(is_instance_id(&id), "{id}");
        let t = instance_id_time_ms(&id);
        assert!(
            t.is_some_and(|t| (before..=after).contains(&t)),
            "{t:?} not in {before}..={after}"
        );
        // Made later: sorts after (the millisecond timestamp comes first).
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(new_instance_id() > id);
    }

    #[test]
    fn only_v7_ids_have_a_time() {
        // A UUIDv7 of 2020-09-13T12:26:40Z (1_600_000_000_000 ms = 0x0174876e8000).
        assert_eq!(
            instance_id_time_ms("0174876e800070008000000000000000"),
            Some(1_600_000_000_000)
        );
        // The UUIDv4 ids made before this change.
        let v4 = uuid::Uuid::new_v4().simple().to_string();
        assert!(is_instance_id(&v4));
        assert_eq!(instance_id_time_ms(&v4), None);
        for bad in [
            "",
            "0174876e8000700080000000000000",       // short
            "0174876e800070008000000000000000a",    // long
            "0174876E800070008000000000000000",     // upper case
            "0174876e-8000-7000-8000-000000000000", // hyphenated
            "0174876e8000700080000000000000zz",     // not hex
            "0174876e800070000000000000000000",     // v7 bits, but not the RFC variant
        ] {
            assert_eq!(instance_id_time_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn given_credentials_are_checked() {
        assert!(validate_access_key("ab").is_err());
        assert!(validate_access_key("has space").is_err());
        assert!(validate_access_key("AKIAIOSFODNN7EXAMPLE").is_ok());
        assert!(validate_secret_key("short").is_err());
        assert!(validate_secret_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").is_ok());
        assert!(validate_secret_key("with space inside").is_err());
    }
}
