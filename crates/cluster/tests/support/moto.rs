//! moto's EC2 API on loopback, and boto3 against it: the EC2 tests' AWS.
//! Shared by airlock-cluster's and airlock-server's tests (`#[path]`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server, killed when dropped (a failed test included).
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's server (`MOTO_SERVER`, else what scripts/install-deps.sh installs).
pub fn server() -> PathBuf {
    std::env::var_os("MOTO_SERVER")
        .map_or_else(|| "/opt/moto-venv/bin/moto_server".into(), PathBuf::from)
}

/// moto on a free loopback port. Another test's server can take the port
/// before moto binds it (moto then exits): ready means moto itself answers,
/// else it starts again on another port.
pub fn start() -> Moto {
    let bin = server();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run moto's server {} ({e}); run scripts/install-deps.sh",
                    bin.display()
                )
            });
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while moto.child.try_wait().ok().flatten().is_none() {
            if answers(port) {
                return moto;
            }
            assert!(Instant::now() < deadline, "moto did not answer in 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("moto's server exited at start five times (ports taken?)");
}

/// Whether moto's own API answers on `port` (not just anything listening).
fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = [0u8; 12];
    c.write_all(b"GET /moto-api/data.json HTTP/1.0\r\n\r\n")
        .is_ok()
        && c.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.")
        && &head[9..12] == b"200"
}

/// Runs a boto3 script (the python beside moto's server) against moto: the
/// test's own view of EC2, independent of the SDK calls under test. Its
/// stdout, trimmed.
pub fn boto(endpoint: &str, script: &str) -> String {
    let python = server().with_file_name("python");
    let prelude = format!(
        "import boto3, json, base64\n\
         ec2 = boto3.client('ec2', endpoint_url='{endpoint}', region_name='us-east-1', \
         aws_access_key_id='testing', aws_secret_access_key='testing')\n"
    );
    let out = Command::new(python)
        .args(["-c", &format!("{prelude}{script}")])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "boto3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
