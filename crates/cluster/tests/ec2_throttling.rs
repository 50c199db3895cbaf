//! EC2 throttling (`RequestLimitExceeded`, HTTP 503) is retried with
//! backoff: a hand-built EC2 endpoint on loopback throttles the first two
//! calls and answers the third (feature `ec2`). One test per binary: it
//! sets the process's environment before any other thread runs.

use airlock_cluster::ec2::{Ec2Provider, Ec2Settings};
use airlock_cluster::provider::Provider;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const THROTTLED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>";
const ZONES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeAvailabilityZonesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-2</requestId><availabilityZoneInfo><item><zoneName>us-east-1a</zoneName><zoneState>available</zoneState><regionName>us-east-1</regionName></item></availabilityZoneInfo></DescribeAvailabilityZonesResponse>";

/// Answers each request on its own connection: the first `throttle` with
/// 503 RequestLimitExceeded, then the zones. Returns the request counter.
fn fake_ec2(listener: TcpListener, throttle: usize) -> Arc<AtomicUsize> {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let n = count.fetch_add(1, Ordering::SeqCst);
            let (status, text) = if n < throttle {
                ("503 Service Unavailable", THROTTLED)
            } else {
                ("200 OK", ZONES)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    seen
}

#[test]
fn throttled_calls_are_retried_with_backoff() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let seen = fake_ec2(listener, 2);
    let ec2 = Ec2Provider::connect(Ec2Settings {
        node_endpoint: "10.0.0.5:7443".into(),
        ..Ec2Settings::default()
    })
    .expect("connects");
    ec2.check()
        .expect("the third attempt is answered after two throttles");
    assert_eq!(seen.load(Ordering::SeqCst), 3, "two retries, then success");
}
