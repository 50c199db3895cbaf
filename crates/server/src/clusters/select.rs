//! Which provider runs the clusters' machines, chosen when the server
//! starts (`--provider local|ec2`): the choice, the settings that must go
//! with it, and building the EC2 provider before the server serves
//! anything, so that a server that cannot use EC2 stops at its start with
//! the reason instead of failing each stack later. A server built without
//! the `ec2` feature refuses `--provider ec2`: it never falls back to the
//! local provider.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use airlock_cluster::provider::{Provider, ProviderError};

/// The `--provider` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProviderKind {
    /// Machines as namespaces on this host (as root, or through the root
    /// helper of `--provider-socket`).
    #[default]
    Local,
    /// EC2 instances through the AWS SDK (docs/EC2.md); needs a server
    /// built with the `ec2` feature and `--node-endpoint`.
    Ec2,
}

/// The provider [`super::Manager::new`] uses.
#[derive(Clone, Default)]
pub enum ProviderChoice {
    /// The local provider: in the server, or the helper behind
    /// `provider_socket`.
    #[default]
    Local,
    /// A provider made and checked before the server started (EC2).
    Ready(Arc<dyn Provider>),
}

impl std::fmt::Debug for ProviderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderChoice::Local => f.write_str("Local"),
            ProviderChoice::Ready(_) => f.write_str("Ready(..)"),
        }
    }
}

/// Why the server cannot start with the provider it was asked for.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error(
        "cannot start the server: --provider ec2 needs --node-endpoint IP:PORT, the address EC2 instances dial this server at (they have no local gateway to reach it through)\n  hint: give an address of this server that the cluster's subnet can reach, e.g. --node-endpoint 10.0.0.5:7443 (or AIRLOCK_NODE_ENDPOINT)"
    )]
    NodeEndpointRequired,
    #[error(
        "cannot start the server: --node-endpoint {0} is not an address nodes can dial\n  hint: give the server's own address as the cluster's subnet reaches it, e.g. --node-endpoint 10.0.0.5:7443"
    )]
    UnspecifiedEndpoint(SocketAddr),
    #[error(
        "cannot start the server: --provider-socket {0} is the local provider's root helper, and this server uses --provider ec2\n  hint: drop --provider-socket (AIRLOCK_PROVIDER_SOCKET), or use --provider local"
    )]
    SocketWithEc2(String),
    #[error(
        "cannot start the server: --ec2-image-id is a setting of the EC2 provider, and this server uses --provider local\n  hint: add --provider ec2, or drop --ec2-image-id (AIRLOCK_EC2_IMAGE_ID)"
    )]
    ImageWithoutEc2,
    #[error(
        "cannot start the server: --ec2-shared-volume is a setting of the EC2 provider, and this server uses --provider local\n  hint: add --provider ec2, or drop --ec2-shared-volume (AIRLOCK_EC2_SHARED_VOLUME)"
    )]
    VolumeWithoutEc2,
    #[error(
        "cannot start the server: --ec2-shared-volume {0:?} is not an absolute path\n  hint: give the directory where every instance's image mounts the cluster's shared filesystem, e.g. /mnt/cluster-volume"
    )]
    VolumeNotAbsolute(String),
    #[error(
        "cannot start the server: this airlock-server was built without the EC2 provider, so --provider ec2 is not available\n  hint: build it with `cargo build --release --features airlock-server/ec2` (docs/EC2.md), or start it with --provider local"
    )]
    NotBuilt,
    /// The EC2 provider's own sentence (credentials, region, endpoint).
    #[error("cannot start the server: the EC2 provider is not usable: {0}")]
    Ec2(ProviderError),
}

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection<'a> {
    pub kind: ProviderKind,
    /// The AMI of nodes whose configuration has no `custom_ami`.
    pub ec2_image_id: Option<String>,
    /// Where every instance has the cluster's shared filesystem mounted.
    pub ec2_shared_volume: Option<String>,
    pub node_endpoint: Option<SocketAddr>,
    pub provider_socket: Option<&'a Path>,
}

/// Checks the selection and, for EC2, connects (the standard AWS
/// credential chain and region) and asks EC2 once that it answers.
pub fn choose(s: Selection<'_>) -> Result<ProviderChoice, SelectError> {
    match s.kind {
        ProviderKind::Local if s.ec2_image_id.is_some() => Err(SelectError::ImageWithoutEc2),
        ProviderKind::Local if s.ec2_shared_volume.is_some() => Err(SelectError::VolumeWithoutEc2),
        ProviderKind::Local => Ok(ProviderChoice::Local),
        ProviderKind::Ec2 => {
            if let Some(socket) = s.provider_socket {
                return Err(SelectError::SocketWithEc2(socket.display().to_string()));
            }
            let endpoint = s.node_endpoint.ok_or(SelectError::NodeEndpointRequired)?;
            if endpoint.ip().is_unspecified() || endpoint.port() == 0 {
                return Err(SelectError::UnspecifiedEndpoint(endpoint));
            }
            if let Some(v) = s.ec2_shared_volume.as_ref().filter(|v| !v.starts_with('/')) {
                return Err(SelectError::VolumeNotAbsolute(v.clone()));
            }
            ec2(s.ec2_image_id, s.ec2_shared_volume, endpoint)
        }
    }
}

#[cfg(feature = "ec2")]
fn ec2(
    image_id: Option<String>,
    shared_volume: Option<String>,
    endpoint: SocketAddr,
) -> Result<ProviderChoice, SelectError> {
    use airlock_cluster::ec2::{Ec2Provider, Ec2Settings};
    let p = Ec2Provider::connect(Ec2Settings {
        image_id,
        shared_volume,
        node_endpoint: endpoint.to_string(),
        ..Ec2Settings::default()
    })
    .map_err(SelectError::Ec2)?;
    p.check().map_err(SelectError::Ec2)?;
    tracing::info!(region = p.region(), node_endpoint = %endpoint, "the EC2 provider answers");
    Ok(ProviderChoice::Ready(Arc::new(p)))
}

#[cfg(not(feature = "ec2"))]
fn ec2(
    _image_id: Option<String>,
    _shared_volume: Option<String>,
    _endpoint: SocketAddr,
) -> Result<ProviderChoice, SelectError> {
    Err(SelectError::NotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec2_with(endpoint: Option<&str>) -> Selection<'static> {
        Selection {
            kind: ProviderKind::Ec2,
            node_endpoint: endpoint.map(|e| e.parse().unwrap()),
            ..Selection::default()
        }
    }

    #[test]
    fn ec2_without_a_node_endpoint_is_refused_with_the_fix() {
        let e = choose(ec2_with(None)).unwrap_err().to_string();
        assert!(e.contains("--provider ec2 needs --node-endpoint"), "{e}");
        assert!(e.contains("hint: "), "{e}");
        let e = choose(ec2_with(Some("0.0.0.0:7443")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not an address nodes can dial"), "{e}");
    }

    #[test]
    fn ec2_with_the_local_helper_socket_is_refused() {
        let s = Selection {
            provider_socket: Some(Path::new("/run/airlock-provider.sock")),
            ..ec2_with(Some("10.0.0.5:7443"))
        };
        let e = choose(s).unwrap_err().to_string();
        assert!(e.contains("--provider-socket"), "{e}");
    }

    #[test]
    fn the_local_provider_takes_no_ec2_image() {
        assert!(matches!(
            choose(Selection::default()),
            Ok(ProviderChoice::Local)
        ));
        let s = Selection {
            ec2_image_id: Some("ami-0123".into()),
            ..Selection::default()
        };
        assert!(matches!(choose(s), Err(SelectError::ImageWithoutEc2)));
        let s = Selection {
            ec2_shared_volume: Some("/mnt/cluster-volume".into()),
            ..Selection::default()
        };
        assert!(matches!(choose(s), Err(SelectError::VolumeWithoutEc2)));
    }

    #[test]
    fn a_relative_shared_volume_is_refused() {
        let s = Selection {
            ec2_shared_volume: Some("mnt/efs".into()),
            ..ec2_with(Some("10.0.0.5:7443"))
        };
        let e = choose(s).unwrap_err().to_string();
        assert!(
            e.contains("is not an absolute path") && e.contains("hint: "),
            "{e}"
        );
    }

    #[cfg(not(feature = "ec2"))]
    #[test]
    fn a_server_built_without_ec2_says_how_to_build_it() {
        let e = choose(ec2_with(Some("10.0.0.5:7443")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("built without the EC2 provider"), "{e}");
        assert!(e.contains("--features airlock-server/ec2"), "{e}");
    }
}
