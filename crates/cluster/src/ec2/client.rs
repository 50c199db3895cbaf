//! The provider's AWS SDK client and the runtime its calls run on: the
//! standard credential chain and region resolution, rustls (ring) for TLS,
//! retries with backoff for throttling.

use crate::provider::{ProviderError, Result};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::ProvideCredentials;
use aws_sdk_ec2::config::interceptors::InterceptorContext;
use aws_sdk_ec2::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_ec2::error::DisplayErrorContext;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::operation::run_instances::RunInstancesError;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use base64::Engine;
use std::future::Future;
use std::net::IpAddr;

/// How the server uses EC2.
#[derive(Debug, Clone, Default)]
pub struct Ec2Settings {
    /// The region; `None` resolves it as the AWS CLI does (`AWS_REGION`,
    /// the profile's `region`).
    pub region: Option<String>,
    /// A profile of `~/.aws/config`; `None` is `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// The AMI of nodes whose configuration has no `custom_ami`.
    pub image_id: Option<String>,
    /// `HOST:PORT` the nodes reach the airlock server at; the only address
    /// their security group lets them reach outside the cluster.
    pub node_endpoint: String,
    /// Where every instance has the cluster's shared filesystem mounted by
    /// its image (EFS, FSx, or the boot rig's volume): nodes bind-mount
    /// `/home` and `/shared` from it. `None`: NFS from the head node.
    pub shared_volume: Option<String>,
    /// An EC2 endpoint URL other than AWS's (the AWS CLI's
    /// `--endpoint-url`); `AWS_ENDPOINT_URL` works too.
    pub endpoint_url: Option<String>,
}

/// Attempts per call, throttling (`RequestLimitExceeded`) included, with
/// the SDK's exponential backoff between them.
const MAX_ATTEMPTS: u32 = 8;

/// Runs the provider's calls on its own runtime: the provider interface is
/// synchronous and may be called from inside another runtime.
pub struct Bridge {
    rt: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    fn new() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("airlock-ec2")
            .enable_all()
            .build()
            .map_err(crate::local::io("cannot start the EC2 provider's runtime"))?;
        Ok(Bridge { rt: Some(rt) })
    }

    /// Runs `f` to completion and returns its result.
    pub fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let rt = self
            .rt
            .as_ref()
            .ok_or_else(|| ProviderError::Invalid("the EC2 provider is shut down".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| ProviderError::Invalid("the EC2 call was cancelled".into()))?
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; this does not.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The client, with the region it resolved to.
pub fn connect(s: &Ec2Settings) -> Result<(Bridge, Client, String)> {
    let bridge = Bridge::new()?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(r) = &s.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(p) = &s.profile {
        loader = loader.profile_name(p);
    }
    if let Some(u) = &s.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    let conf = bridge.call(async move {
        let conf = loader.load().await;
        // Fail here, with a sentence, rather than on the first call.
        let creds = conf.credentials_provider().ok_or_else(no_credentials)?;
        creds.provide_credentials().await.map_err(|e| {
            ProviderError::Invalid(format!(
                "{}\n  cause: {}",
                no_credentials(),
                DisplayErrorContext(&e)
            ))
        })?;
        Ok(conf)
    })?;
    let region = conf.region().map(|r| r.to_string()).ok_or_else(|| {
        ProviderError::Invalid(
            "no AWS region\n  hint: set AWS_REGION, or region in the profile of ~/.aws/config"
                .into(),
        )
    })?;
    let ec2 = aws_sdk_ec2::config::Builder::from(&conf)
        .retry_classifier(NoRetryOnCapacity)
        .build();
    Ok((bridge, Client::from_conf(ec2), region))
}

/// EC2's capacity refusals (HTTP 500) are not retried: capacity does not
/// come back within a call's backoff, and Slurm's resume should hear at
/// once, set the node down and requeue its job, as ParallelCluster does.
#[derive(Debug)]
struct NoRetryOnCapacity;

impl ClassifyRetry for NoRetryOnCapacity {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(e)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let code = e
            .as_operation_error()
            .and_then(|e| e.downcast_ref::<RunInstancesError>())
            .and_then(|e| e.code());
        match code {
            Some(c) if super::error::CAPACITY_CODES.contains(&c) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "airlock: no retry on EC2 capacity errors"
    }
}

fn no_credentials() -> ProviderError {
    ProviderError::Invalid(
        "no AWS credentials found (looked in the environment, ~/.aws/credentials, ~/.aws/config and the instance's role)\n  hint: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`".into(),
    )
}

/// EC2's user data encoding.
pub fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The egress rule to the airlock server: its address as a /32 and its
/// port. A host name cannot be pinned to addresses here: refused.
pub fn egress_cidr_and_port(endpoint: &str) -> Result<(String, u16)> {
    let bad = || {
        ProviderError::Invalid(format!(
            "the node endpoint {endpoint:?} is not IP:PORT\n  hint: give the airlock server's address as the nodes reach it, e.g. --node-endpoint 10.0.0.5:7443"
        ))
    };
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = host.parse().map_err(|_| bad())?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let cidr = match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    };
    Ok((cidr, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_endpoint_becomes_one_egress_rule() {
        assert_eq!(
            egress_cidr_and_port("10.0.0.5:7443").unwrap(),
            ("10.0.0.5/32".into(), 7443)
        );
        assert_eq!(
            egress_cidr_and_port("[fd00::1]:443").unwrap(),
            ("fd00::1/128".into(), 443)
        );
        for bad in ["server.example:443", "10.0.0.5", "10.0.0.5:http", ""] {
            let e = egress_cidr_and_port(bad).unwrap_err().to_string();
            assert!(
                e.contains("hint: give the airlock server's address"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_call_from_inside_another_runtime_does_not_panic() {
        let bridge = Bridge::new().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let v = rt.block_on(async { bridge.call(async { Ok(41 + 1) }) });
        assert_eq!(v.unwrap(), 42);
        drop(rt);
        drop(bridge);
    }
}
