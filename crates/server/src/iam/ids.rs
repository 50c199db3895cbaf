//! Identifier forms, as AWS makes them: account ids, unique ids, access key
//! ids, instance ids.

use rand::Rng;

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| BASE32[rng.gen_range(0..BASE32.len())] as char)
        .collect()
}

/// A 12-digit account id, not starting with 0.
pub fn account_id() -> String {
    let mut rng = rand::thread_rng();
    format!("{}", rng.gen_range(100_000_000_000u64..1_000_000_000_000))
}
/// `AIDA…` for users.
pub fn user_id() -> String {
    format!("AIDA{}", base32(17))
}
/// `AROA…` for roles.
pub fn role_id() -> String {
    format!("AROA{}", base32(17))
}
/// `AKIA…` for access keys.
pub fn access_key_id() -> String {
    format!("AKIA{}", base32(16))
}
/// A random nonce or request id in hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// IAM's rule for user, role and policy names: `[\w+=,.@-]{1,64}`.
pub fn valid_iam_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_aws_forms() {
        assert!(crate::auth::signature::is_access_key_id(&access_key_id()));
        assert_eq!(account_id().len(), 12);
        assert!(user_id().starts_with("AIDA") && user_id().len() == 21);
    }

    #[test]
    fn iam_names_follow_the_aws_pattern() {
        assert!(valid_iam_name(
            "alice.o'brien".trim_end_matches("'brien"),
            64
        ));
        assert!(valid_iam_name("ci-bot@example.com", 64));
        assert!(!valid_iam_name("", 64));
        assert!(!valid_iam_name("has space", 64));
        assert!(!valid_iam_name("a/b", 64));
        assert!(!valid_iam_name(&"x".repeat(65), 64));
    }
}
