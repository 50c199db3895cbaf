//! The user data a node boots from: a short POSIX `sh` script that
//!
//! 1. writes the server's CA (pinned here) to a file;
//! 2. downloads the agent binary from `{endpoint}/v1/agent/binary` with
//!    `curl --fail --cacert CA` into a temporary file, and refuses it (exit
//!    non-zero, nothing run) unless its `sha256sum` is the one pinned here;
//! 3. installs it as `$AIRLOCK_PREFIX/bin/airlock` (`AIRLOCK_PREFIX`
//!    defaults to `/usr/local`);
//! 4. registers with `airlock agent register --instance-id … --join-token …`;
//! 5. `exec`s `airlock agent run`.
//!
//! **No secret.** The only credential in the script is the join token, and
//! it is single use, short lived (minutes) and bound to this one instance id
//! and role ([`super::join`]). Once the node has joined, or the token has
//! expired, the token is worthless, so the user data shown later (`airlock
//! ec2 describe-instance-attribute --attribute userData`) reveals nothing
//! usable. The CA is a certificate, not a key; the node's private key is made
//! on the node and never leaves it.
//!
//! Every interpolated value is single-quoted for `sh`; a value holding a
//! quote, a newline, a NUL or a backslash is refused rather than escaped.

/// What a node's user data says.
#[derive(Debug, Clone)]
pub struct UserData<'a> {
    /// The server as the node reaches it: `https://host:port`.
    pub endpoint: &'a str,
    /// PEM of the server's CA.
    pub ca_pem: &'a str,
    /// SHA-256 (hex) of the agent binary the server serves.
    pub binary_sha256: &'a str,
    pub instance_id: &'a str,
    pub join_token: &'a str,
}

/// Why a script cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserDataError {
    #[error("{field} cannot go in user data: it holds a quote, a backslash, a newline or a NUL")]
    Unquotable { field: &'static str },
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("the binary's SHA-256 must be 64 hex digits")]
    Digest,
    #[error("the CA is not one PEM certificate")]
    Ca,
    #[error("the endpoint must start with https://")]
    Endpoint,
}

/// `v` in single quotes, or an error naming `field`.
fn quote(field: &'static str, v: &str) -> Result<String, UserDataError> {
    if v.is_empty() {
        return Err(UserDataError::Empty { field });
    }
    if v.chars()
        .any(|c| matches!(c, '\'' | '"' | '\\' | '\n' | '\r' | '\0'))
    {
        return Err(UserDataError::Unquotable { field });
    }
    Ok(format!("'{v}'"))
}

/// The script (`#!/bin/sh`, `set -eu`).
pub fn render(u: &UserData<'_>) -> Result<String, UserDataError> {
    if !u.endpoint.starts_with("https://") {
        return Err(UserDataError::Endpoint);
    }
    let endpoint = quote("the endpoint", u.endpoint.trim_end_matches('/'))?;
    let instance = quote("the instance id", u.instance_id)?;
    let token = quote("the join token", u.join_token)?;
    if u.binary_sha256.len() != 64 || !u.binary_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(UserDataError::Digest);
    }
    let digest = u.binary_sha256.to_ascii_lowercase();
    let ca = u.ca_pem.trim();
    let is_one_cert = ca.starts_with("-----BEGIN CERTIFICATE-----")
        && ca.ends_with("-----END CERTIFICATE-----")
        && ca.matches("-----BEGIN ").count() == 1
        && !ca.contains("AIRLOCK_CA_END");
    if !is_one_cert {
        return Err(UserDataError::Ca);
    }
    Ok(format!(
        r#"#!/bin/sh
# airlock node user data: fetch the agent, join as {instance_id}, run it.
# The join token below is single use and expires within minutes.
set -eu
endpoint={endpoint}
instance_id={instance}
join_token={token}
binary_sha256='{digest}'
prefix="${{AIRLOCK_PREFIX:-/usr/local}}"
etc="$prefix/etc/airlock"
mkdir -p "$prefix/bin" "$etc"
umask 022
cat > "$etc/ca.pem" <<'AIRLOCK_CA_END'
{ca}
AIRLOCK_CA_END
tmp=$(mktemp "$prefix/bin/.airlock.XXXXXX")
trap 'rm -f "$tmp"' EXIT
curl --fail --silent --show-error --retry 5 --retry-connrefused --cacert "$etc/ca.pem" \
    -o "$tmp" "$endpoint/v1/agent/binary"
got=$(sha256sum "$tmp" | cut -d' ' -f1)
if [ "$got" != "$binary_sha256" ]; then
    echo "airlock user data: the agent binary's sha256 is $got, not $binary_sha256; refusing to run it" >&2
    exit 1
fi
chmod 0755 "$tmp"
mv -f "$tmp" "$prefix/bin/airlock"
trap - EXIT
"$prefix/bin/airlock" agent register --endpoint "$endpoint" --ca-bundle "$etc/ca.pem" \
    --instance-id "$instance_id" --join-token "$join_token"
exec "$prefix/bin/airlock" agent run
"#,
        instance_id = u.instance_id,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn data() -> UserData<'static> {
        UserData {
            endpoint: "https://10.77.1.1:7443/",
            ca_pem: CA,
            binary_sha256: "ab12000000000000000000000000000000000000000000000000000000000000",
            instance_id: "i-0123456789abcdef0",
            join_token: "00ff",
        }
    }

    #[test]
    fn the_script_pins_the_ca_and_the_hash_and_joins_as_its_instance() {
        let s = render(&data()).unwrap();
        assert!(s.starts_with("#!/bin/sh\n"), "{s}");
        assert!(s.contains("\nset -eu\n"), "{s}");
        assert!(s.contains("\nendpoint='https://10.77.1.1:7443'\n"), "{s}");
        assert!(s.contains("\ninstance_id='i-0123456789abcdef0'\n"), "{s}");
        assert!(s.contains("\njoin_token='00ff'\n"), "{s}");
        assert!(s.contains(&format!("\nbinary_sha256='{}'\n", data().binary_sha256)));
        assert!(s.contains("<<'AIRLOCK_CA_END'\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\nAIRLOCK_CA_END\n"), "{s}");
        assert!(s.contains("curl --fail"), "{s}");
        assert!(s.contains("--cacert \"$etc/ca.pem\""), "{s}");
        assert!(s.contains("\"$endpoint/v1/agent/binary\""), "{s}");
        assert!(s.contains("--instance-id \"$instance_id\" --join-token \"$join_token\""));
        assert!(
            s.trim_end()
                .ends_with("exec \"$prefix/bin/airlock\" agent run"),
            "{s}"
        );
        // The hash is checked before anything downloaded runs.
        let check = s.find("sha256sum").unwrap();
        let first_run = s.find("\"$prefix/bin/airlock\" agent register").unwrap();
        assert!(check < first_run);
        assert_eq!(s.matches("BEGIN").count(), 1, "only the CA's certificate");
        assert!(!s.contains("PRIVATE"));
    }

    #[test]
    fn values_that_could_break_the_quoting_are_refused() {
        for bad in ["a'b", "a\nb", "a\"b", "a\\b", "a\rb", "a\0b"] {
            let mut d = data();
            d.join_token = bad;
            assert_eq!(
                render(&d).unwrap_err(),
                UserDataError::Unquotable {
                    field: "the join token"
                },
                "{bad:?}"
            );
            let mut d = data();
            d.instance_id = bad;
            assert!(render(&d).is_err(), "{bad:?}");
            let mut d = data();
            let ep = format!("https://{bad}");
            d.endpoint = &ep;
            assert!(render(&d).is_err(), "{bad:?}");
        }
        let mut d = data();
        d.join_token = "";
        assert_eq!(
            render(&d).unwrap_err(),
            UserDataError::Empty {
                field: "the join token"
            }
        );
    }

    #[test]
    fn shell_syntax_in_a_value_stays_a_literal() {
        let mut d = data();
        d.instance_id = "i-$(touch /tmp/x)`id`;rm -rf /";
        let s = render(&d).unwrap();
        assert!(
            s.contains("\ninstance_id='i-$(touch /tmp/x)`id`;rm -rf /'\n"),
            "{s}"
        );
        // The comment line names it too, but a comment runs nothing; it must
        // stay on one line.
        assert!(!s.lines().any(|l| l.starts_with("`id`")));
    }

    #[test]
    fn a_bad_digest_ca_or_endpoint_is_refused() {
        let mut d = data();
        d.binary_sha256 = "abc";
        assert_eq!(render(&d).unwrap_err(), UserDataError::Digest);
        let mut d = data();
        d.ca_pem = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----";
        assert_eq!(render(&d).unwrap_err(), UserDataError::Ca);
        let mut d = data();
        let two = format!("{CA}{CA}");
        d.ca_pem = &two;
        assert_eq!(render(&d).unwrap_err(), UserDataError::Ca);
        let mut d = data();
        d.endpoint = "http://10.77.1.1:7443";
        assert_eq!(render(&d).unwrap_err(), UserDataError::Endpoint);
    }
}
