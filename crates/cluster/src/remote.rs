//! The provider across a process boundary: the privileged helper
//! (`airlock provider serve`, root) serves a [`Provider`] on a Unix socket,
//! and an unprivileged server uses it through [`RemoteProvider`]. One JSON
//! request and one JSON answer per connection. The helper answers only the
//! uid it was told to serve (checked with `SO_PEERCRED`), and does only
//! what the interface offers: make networks, launch, terminate, describe.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::provider::{
    Instance, LaunchSpec, Network, NodeRole, Provider, ProviderError, Result, StorageSource,
};

/// Longest request or answer line (a user data script is a few KiB).
const MAX_LINE: u64 = 1024 * 1024;
/// Longest a call may take (a launch waits for the machine's network).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Serialize, Deserialize)]
enum Call {
    Check,
    CreateNetwork {
        cluster: String,
        vpc_id: String,
        subnet_id: String,
    },
    Network {
        cluster: String,
    },
    CreateSecurityGroup {
        cluster: String,
    },
    SharedStorage {
        net: Network,
    },
    Restore {
        cluster: String,
    },
    DeleteSecurityGroup {
        cluster: String,
    },
    DeleteNetwork {
        cluster: String,
    },
    Launch {
        cluster: String,
        instance_id: String,
        name: String,
        role: NodeRole,
        user_data: String,
    },
    Terminate {
        cluster: String,
        instance_id: String,
    },
    Interrupt {
        cluster: String,
        instance_id: String,
    },
    Describe {
        cluster: String,
    },
    Clusters,
}

/// An answer: a JSON value, or the provider's error message.
#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    Ok(serde_json::Value),
    Err(String),
}

/// A [`Provider`] served by a privileged helper on a Unix socket.
pub struct RemoteProvider {
    socket: PathBuf,
}

impl RemoteProvider {
    pub fn new(socket: PathBuf) -> Self {
        RemoteProvider { socket }
    }

    fn call<T: for<'de> Deserialize<'de>>(&self, call: &Call) -> Result<T> {
        let helper = |e: std::io::Error| {
            ProviderError::Invalid(format!(
                "the provider helper at {} cannot be reached: {e} (is `airlock provider serve` running?)",
                self.socket.display()
            ))
        };
        let mut s = UnixStream::connect(&self.socket).map_err(helper)?;
        s.set_read_timeout(Some(CALL_TIMEOUT)).map_err(helper)?;
        let line =
            serde_json::to_string(call).map_err(|e| ProviderError::Invalid(e.to_string()))?;
        s.write_all(format!("{line}\n").as_bytes())
            .map_err(helper)?;
        let mut answer = String::new();
        BufReader::new(s.take(MAX_LINE))
            .read_line(&mut answer)
            .map_err(helper)?;
        match serde_json::from_str::<Answer>(&answer) {
            Ok(Answer::Ok(v)) => serde_json::from_value(v).map_err(|e| {
                ProviderError::Invalid(format!("the provider helper's answer is malformed: {e}"))
            }),
            Ok(Answer::Err(msg)) => Err(ProviderError::Invalid(msg)),
            Err(_) if answer.is_empty() => Err(ProviderError::Invalid(
                "the provider helper closed the connection without an answer".into(),
            )),
            Err(e) => Err(ProviderError::Invalid(format!(
                "the provider helper's answer is malformed: {e}"
            ))),
        }
    }
}

impl Provider for RemoteProvider {
    fn check(&self) -> Result<()> {
        self.call(&Call::Check)
    }
    fn create_network(&self, cluster: &str, vpc_id: &str, subnet_id: &str) -> Result<Network> {
        self.call(&Call::CreateNetwork {
            cluster: cluster.into(),
            vpc_id: vpc_id.into(),
            subnet_id: subnet_id.into(),
        })
    }
    fn network(&self, cluster: &str) -> Option<Network> {
        self.call::<Option<Network>>(&Call::Network {
            cluster: cluster.into(),
        })
        .ok()
        .flatten()
    }
    fn create_security_group(&self, cluster: &str) -> Result<String> {
        self.call(&Call::CreateSecurityGroup {
            cluster: cluster.into(),
        })
    }
    fn shared_storage(&self, net: &Network) -> StorageSource {
        self.call(&Call::SharedStorage { net: net.clone() })
            .unwrap_or(StorageSource::Nfs {
                server: net.head_address.clone().unwrap_or_default(),
            })
    }
    fn restore(&self, cluster: &str) -> Result<()> {
        self.call(&Call::Restore {
            cluster: cluster.into(),
        })
    }
    fn delete_security_group(&self, cluster: &str) -> Result<()> {
        self.call(&Call::DeleteSecurityGroup {
            cluster: cluster.into(),
        })
    }
    fn delete_network(&self, cluster: &str) -> Result<()> {
        self.call(&Call::DeleteNetwork {
            cluster: cluster.into(),
        })
    }
    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Instance> {
        self.call(&Call::Launch {
            cluster: spec.cluster.into(),
            instance_id: spec.instance_id.into(),
            name: spec.name.into(),
            role: spec.role,
            user_data: spec.user_data.into(),
        })
    }
    fn terminate(&self, cluster: &str, instance_id: &str) -> Result<()> {
        self.call(&Call::Terminate {
            cluster: cluster.into(),
            instance_id: instance_id.into(),
        })
    }
    fn interrupt(&self, cluster: &str, instance_id: &str) -> Result<()> {
        self.call(&Call::Interrupt {
            cluster: cluster.into(),
            instance_id: instance_id.into(),
        })
    }
    fn describe(&self, cluster: &str) -> Vec<Instance> {
        self.try_describe(cluster).unwrap_or_default()
    }
    fn try_describe(&self, cluster: &str) -> Result<Vec<Instance>> {
        self.call(&Call::Describe {
            cluster: cluster.into(),
        })
    }
    fn clusters(&self) -> Vec<String> {
        self.call(&Call::Clusters).unwrap_or_default()
    }
}

fn ok<T: Serialize>(r: Result<T>) -> Answer {
    match r.map(|v| serde_json::to_value(v)) {
        Ok(Ok(v)) => Answer::Ok(v),
        Ok(Err(e)) => Answer::Err(e.to_string()),
        Err(e) => Answer::Err(e.to_string()),
    }
}

/// Carries out one call on the real provider.
fn dispatch(p: &dyn Provider, call: Call) -> Answer {
    match call {
        Call::Check => ok(p.check()),
        Call::CreateNetwork {
            cluster,
            vpc_id,
            subnet_id,
        } => ok(p.create_network(&cluster, &vpc_id, &subnet_id)),
        Call::Network { cluster } => ok(Ok(p.network(&cluster))),
        Call::CreateSecurityGroup { cluster } => ok(p.create_security_group(&cluster)),
        Call::SharedStorage { net } => ok(Ok(p.shared_storage(&net))),
        Call::Restore { cluster } => ok(p.restore(&cluster)),
        Call::DeleteSecurityGroup { cluster } => ok(p.delete_security_group(&cluster)),
        Call::DeleteNetwork { cluster } => ok(p.delete_network(&cluster)),
        Call::Launch {
            cluster,
            instance_id,
            name,
            role,
            user_data,
        } => ok(p.launch(&LaunchSpec {
            cluster: &cluster,
            instance_id: &instance_id,
            name: &name,
            role,
            user_data: &user_data,
        })),
        Call::Terminate {
            cluster,
            instance_id,
        } => ok(p.terminate(&cluster, &instance_id)),
        Call::Interrupt {
            cluster,
            instance_id,
        } => ok(p.interrupt(&cluster, &instance_id)),
        Call::Describe { cluster } => ok(Ok(p.describe(&cluster))),
        Call::Clusters => ok(Ok(p.clusters())),
    }
}

/// The uid of the process at the other end of `s`.
fn peer_uid(s: &UnixStream) -> Option<u32> {
    nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::PeerCredentials)
        .ok()
        .map(|c| c.uid())
}

fn handle(p: &dyn Provider, mut s: UnixStream, allowed_uid: u32) {
    let peer = peer_uid(&s);
    let answer = if peer != Some(allowed_uid) {
        tracing::warn!(
            ?peer,
            allowed_uid,
            "refused a provider call from another user"
        );
        Answer::Err(format!("the provider helper serves uid {allowed_uid} only"))
    } else {
        let mut line = String::new();
        let read = s
            .try_clone()
            .map(|r| BufReader::new(r.take(MAX_LINE)).read_line(&mut line));
        match (read, serde_json::from_str::<Call>(&line)) {
            (Ok(Ok(_)), Ok(call)) => {
                tracing::debug!(?call, "provider call");
                dispatch(p, call)
            }
            _ => Answer::Err("not a provider call".into()),
        }
    };
    let text = serde_json::to_string(&answer).unwrap_or_else(|_| "{\"Err\":\"?\"}".into());
    let _ = s.write_all(format!("{text}\n").as_bytes());
}

/// Serves `provider` on `listener` for `allowed_uid`, a thread per call;
/// returns only if accepting fails.
pub fn serve(
    provider: std::sync::Arc<dyn Provider>,
    listener: UnixListener,
    allowed_uid: u32,
) -> std::io::Error {
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                let p = provider.clone();
                std::thread::spawn(move || handle(p.as_ref(), s, allowed_uid));
            }
            Err(e) => return e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::InstanceState;
    use std::sync::Arc;

    /// A provider that knows one instance and refuses launches.
    struct Fixed;

    impl Provider for Fixed {
        fn check(&self) -> Result<()> {
            Ok(())
        }
        fn create_network(&self, _: &str, _: &str, _: &str) -> Result<Network> {
            Err(ProviderError::Invalid("no free subnet".into()))
        }
        fn network(&self, _: &str) -> Option<Network> {
            None
        }
        fn create_security_group(&self, _: &str) -> Result<String> {
            Ok("sg-1".into())
        }
        fn shared_storage(&self, _: &Network) -> StorageSource {
            StorageSource::Volume {
                source: "/mnt/v".into(),
            }
        }
        fn restore(&self, _: &str) -> Result<()> {
            Ok(())
        }
        fn delete_security_group(&self, _: &str) -> Result<()> {
            Ok(())
        }
        fn delete_network(&self, _: &str) -> Result<()> {
            Ok(())
        }
        fn launch(&self, _: &LaunchSpec<'_>) -> Result<Instance> {
            Err(ProviderError::Invalid("launch refused".into()))
        }
        fn terminate(&self, _: &str, _: &str) -> Result<()> {
            Ok(())
        }
        fn interrupt(&self, _: &str, _: &str) -> Result<()> {
            Ok(())
        }
        fn describe(&self, _: &str) -> Vec<Instance> {
            vec![Instance {
                instance_id: "i-1".into(),
                name: "head".into(),
                role: NodeRole::HeadNode,
                private_ip: "10.0.0.2".into(),
                state: InstanceState::Running,
                state_reason: None,
                launched_at: 7,
            }]
        }
        fn clusters(&self) -> Vec<String> {
            vec!["c".into()]
        }
    }

    fn helper(uid: u32) -> (tempfile::TempDir, RemoteProvider) {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("p.sock");
        let l = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || serve(Arc::new(Fixed), l, uid));
        (d, RemoteProvider::new(path))
    }

    #[test]
    fn calls_and_errors_cross_the_socket() {
        let (_d, r) = helper(nix::unistd::getuid().as_raw());
        assert!(r.check().is_ok());
        assert_eq!(r.describe("c")[0].name, "head");
        assert_eq!(r.clusters(), ["c"]);
        assert_eq!(r.create_security_group("c").unwrap(), "sg-1");
        let e = r.create_network("c", "v", "s").unwrap_err();
        assert!(e.to_string().contains("no free subnet"), "{e}");
        let e = r
            .launch(&LaunchSpec {
                cluster: "c",
                instance_id: "i-2",
                name: "n",
                role: NodeRole::Compute,
                user_data: "#!/bin/sh",
            })
            .unwrap_err();
        assert!(e.to_string().contains("launch refused"), "{e}");
    }

    #[test]
    fn another_user_is_refused() {
        let (_d, r) = helper(nix::unistd::getuid().as_raw().wrapping_add(1));
        let e = r.check().unwrap_err();
        assert!(e.to_string().contains("serves uid"), "{e}");
        assert!(r.describe("c").is_empty());
    }

    #[test]
    fn a_helper_that_is_not_there_says_so() {
        let r = RemoteProvider::new("/nonexistent/p.sock".into());
        let e = r.check().unwrap_err();
        assert!(e.to_string().contains("airlock provider serve"), "{e}");
        // Not knowing is not "no instances".
        assert!(r.try_describe("c").is_err());
    }
}
