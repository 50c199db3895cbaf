//! Request signing: the canonical request both sides compute, and the
//! `Authorization` header that carries an ed25519 signature over it.
//!
//! The signature covers method, path, sorted query, the body's SHA-256, the
//! timestamp, the nonce and the access key id. The server keeps only public
//! keys, so its database holds nothing that could sign as a user.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

pub const SCHEME: &str = "AIRLOCK1-ED25519";
pub const DATE_HEADER: &str = "x-airlock-date";
pub const NONCE_HEADER: &str = "x-airlock-nonce";
/// Requests whose timestamp is further than this from the server's clock are refused.
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the request is not signed: the Authorization header is missing")]
    Missing,
    #[error("the Authorization header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the request signature does not match")]
    BadSignature,
}

/// The parts of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub signature: Vec<u8>,
}

/// What a signed request carries in its headers.
#[derive(Debug, Clone)]
pub struct SignedHeaders {
    pub authorization: String,
    pub date: String,
    pub nonce: String,
}

fn canonical_query(query: &str) -> String {
    let mut parts: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    parts.sort_unstable();
    parts.join("&")
}

/// Whether a request time is close enough to the server's clock. Any
/// `i64` is safe here: the difference is checked, never overflowing.
pub fn within_skew(now: i64, request_time: i64) -> bool {
    now.checked_sub(request_time)
        .is_some_and(|d| d.unsigned_abs() <= MAX_SKEW_SECS.unsigned_abs())
}

/// The exact bytes that are signed.
pub fn string_to_sign(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    date: &str,
    nonce: &str,
    access_key_id: &str,
) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    format!(
        "{SCHEME}\n{}\n{path}\n{}\n{body_hash}\n{date}\n{nonce}\n{access_key_id}",
        method.to_ascii_uppercase(),
        canonical_query(query)
    )
}

/// Signs a request with a user's private key.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    key: &SigningKey,
    access_key_id: &str,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    unix_time: i64,
    nonce: &str,
) -> SignedHeaders {
    let date = unix_time.to_string();
    let sts = string_to_sign(method, path, query, body, &date, nonce, access_key_id);
    let sig = key.sign(sts.as_bytes());
    SignedHeaders {
        authorization: format!(
            "{SCHEME} Credential={access_key_id}, Signature={}",
            B64.encode(sig.to_bytes())
        ),
        date,
        nonce: nonce.to_owned(),
    }
}

/// Parses `AIRLOCK1-ED25519 Credential=AKIA…, Signature=…`.
pub fn parse_authorization(header: &str) -> Result<Credential, SignatureError> {
    let rest = header
        .strip_prefix(SCHEME)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(SignatureError::Malformed("unknown scheme"))?;
    let mut key_id = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("expected Name=value pairs"))?;
        match k {
            "Credential" => key_id = Some(v.to_owned()),
            "Signature" => {
                let bytes = B64
                    .decode(v)
                    .map_err(|_| SignatureError::Malformed("Signature is not base64"))?;
                signature = Some(bytes);
            }
            _ => return Err(SignatureError::Malformed("unknown field")),
        }
    }
    let access_key_id = key_id.ok_or(SignatureError::Malformed("Credential is missing"))?;
    if !is_access_key_id(&access_key_id) {
        return Err(SignatureError::Malformed(
            "Credential is not an access key id",
        ));
    }
    Ok(Credential {
        access_key_id,
        signature: signature.ok_or(SignatureError::Malformed("Signature is missing"))?,
    })
}

/// Checks a signature against the public key on record.
pub fn verify(
    public_key: &[u8],
    string_to_sign: &str,
    signature: &[u8],
) -> Result<(), SignatureError> {
    let pk: [u8; 32] = public_key
        .try_into()
        .map_err(|_| SignatureError::BadSignature)?;
    let vk = VerifyingKey::from_bytes(&pk).map_err(|_| SignatureError::BadSignature)?;
    let sig = Signature::from_slice(signature).map_err(|_| SignatureError::BadSignature)?;
    vk.verify(string_to_sign.as_bytes(), &sig)
        .map_err(|_| SignatureError::BadSignature)
}

/// Access key ids look like AWS's: `AKIA` and 16 characters of base32.
pub fn is_access_key_id(s: &str) -> bool {
    s.len() == 20
        && s.starts_with("AKIA")
        && s[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// Encodes a private key for the credentials file.
pub fn encode_private_key(key: &SigningKey) -> String {
    B64.encode(key.to_bytes())
}

/// Decodes a private key from the credentials file.
pub fn decode_private_key(s: &str) -> Option<SigningKey> {
    let bytes: [u8; 32] = B64.decode(s.trim()).ok()?.try_into().ok()?;
    Some(SigningKey::from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn signed_request_verifies_and_any_change_breaks_it() {
        let k = key();
        let id = "AKIAABCDEFGHIJKLMNOP";
        let h = sign(
            &k,
            id,
            "POST",
            "/v1/iam/CreateUser",
            "b=2&a=1",
            b"{}",
            100,
            "n1",
        );
        let cred = parse_authorization(&h.authorization).unwrap();
        assert_eq!(cred.access_key_id, id);
        let pk = k.verifying_key().to_bytes();
        let good = string_to_sign(
            "POST",
            "/v1/iam/CreateUser",
            "a=1&b=2",
            b"{}",
            "100",
            "n1",
            id,
        );
        assert_eq!(verify(&pk, &good, &cred.signature), Ok(()));
        for bad in [
            string_to_sign(
                "GET",
                "/v1/iam/CreateUser",
                "a=1&b=2",
                b"{}",
                "100",
                "n1",
                id,
            ),
            string_to_sign(
                "POST",
                "/v1/iam/DeleteUser",
                "a=1&b=2",
                b"{}",
                "100",
                "n1",
                id,
            ),
            string_to_sign(
                "POST",
                "/v1/iam/CreateUser",
                "a=1&b=3",
                b"{}",
                "100",
                "n1",
                id,
            ),
            string_to_sign(
                "POST",
                "/v1/iam/CreateUser",
                "a=1&b=2",
                b"{ }",
                "100",
                "n1",
                id,
            ),
            string_to_sign(
                "POST",
                "/v1/iam/CreateUser",
                "a=1&b=2",
                b"{}",
                "101",
                "n1",
                id,
            ),
            string_to_sign(
                "POST",
                "/v1/iam/CreateUser",
                "a=1&b=2",
                b"{}",
                "100",
                "n2",
                id,
            ),
        ] {
            assert_eq!(
                verify(&pk, &bad, &cred.signature),
                Err(SignatureError::BadSignature)
            );
        }
    }

    #[test]
    fn skew_check_survives_extreme_request_times() {
        let now = 1_700_000_000;
        assert!(within_skew(now, now));
        assert!(within_skew(now, now - MAX_SKEW_SECS));
        assert!(within_skew(now, now + MAX_SKEW_SECS));
        for far in [
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            now - 301,
            now + 301,
            i64::MAX,
        ] {
            assert!(!within_skew(now, far), "{far}");
        }
        assert!(!within_skew(i64::MIN, i64::MAX));
        assert!(!within_skew(i64::MAX, i64::MIN));
    }

    #[test]
    fn malformed_authorization_headers_are_refused() {
        for h in [
            "",
            "AWS4-HMAC-SHA256 Credential=x",
            "AIRLOCK1-ED25519 Credential=AKIAABCDEFGHIJKLMNOP",
            "AIRLOCK1-ED25519 Credential=bad, Signature=AAAA",
            "AIRLOCK1-ED25519 Credential=AKIAABCDEFGHIJKLMNOP, Signature=!!",
            "AIRLOCK1-ED25519 junk",
        ] {
            assert!(parse_authorization(h).is_err(), "{h:?} accepted");
        }
    }

    #[test]
    fn private_key_round_trips_through_the_credentials_encoding() {
        let k = key();
        let back = decode_private_key(&encode_private_key(&k)).unwrap();
        assert_eq!(back.to_bytes(), k.to_bytes());
        assert!(decode_private_key("not base64").is_none());
    }
}
