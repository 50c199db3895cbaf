//! A cluster's network: its bridge with the server's agent address, the
//! host's firewall table for that bridge, and each node's veth and security
//! group (nftables inside the node's network namespace).

use super::layout::NetworkPlan;
use super::{Result, run};

/// Where machines reach the server's agent endpoint: on their cluster's
/// gateway (the server on this host), or at an address beyond it that the
/// host routes to (the server on another host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEndpoint {
    /// The server's address when it is not on the gateway.
    pub routed: Option<String>,
    pub port: u16,
}

impl ServerEndpoint {
    pub fn on_gateway(port: u16) -> Self {
        ServerEndpoint { routed: None, port }
    }
    /// The address machines of `net` dial.
    pub fn addr(&self, net: &NetworkPlan) -> String {
        self.routed.clone().unwrap_or_else(|| net.gateway())
    }
}

fn host_table(net: &NetworkPlan) -> String {
    format!("airlock_{}", net.index)
}

/// The host side: nodes may reach the agent endpoint (on the gateway, or
/// routed to the server's host) and each other, and nothing else on or
/// through this machine; the host opens nothing to them.
pub fn host_ruleset(net: &NetworkPlan, server: &ServerEndpoint) -> String {
    let (t, br, gw, port) = (host_table(net), &net.bridge, net.gateway(), server.port);
    let routed = match &server.routed {
        Some(addr) => format!(
            "iifname \"{br}\" ip daddr {addr} tcp dport {port} accept
    oifname \"{br}\" ct state established,related accept
    "
        ),
        None => String::new(),
    };
    format!(
        "table inet {t} {{
  chain input {{ type filter hook input priority -10; policy accept;
    iifname \"{br}\" ip daddr {gw} tcp dport {port} accept
    iifname \"{br}\" ct state established,related accept
    iifname \"{br}\" drop
  }}
  chain forward {{ type filter hook forward priority -10; policy accept;
    {routed}iifname \"{br}\" oifname \"{br}\" accept
    iifname \"{br}\" drop
    oifname \"{br}\" drop
  }}
  chain output {{ type filter hook output priority -10; policy accept;
    oifname \"{br}\" ct state new drop
  }}
}}
"
    )
}

/// The node's security group: inbound from its cluster and established
/// traffic only; outbound to its cluster and the agent endpoint only.
pub fn node_ruleset(net: &NetworkPlan, server: &ServerEndpoint) -> String {
    let (cidr, gw, addr, port) = (net.cidr(), net.gateway(), server.addr(net), server.port);
    format!(
        "table inet security_group {{
  chain input {{ type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
    ip saddr {cidr} ip saddr != {gw} accept
  }}
  chain output {{ type filter hook output priority 0; policy drop;
    oif lo accept
    ct state established,related accept
    ip daddr {addr} tcp dport {port} accept
    ip daddr {cidr} ip daddr != {gw} accept
  }}
}}
"
    )
}

/// Creates the bridge and puts the server's address on it. Idempotent.
pub fn create_bridge(net: &NetworkPlan) -> Result<()> {
    let br = net.bridge.as_str();
    if run("ip", &["link", "show", br], None).is_err() {
        run("ip", &["link", "add", br, "type", "bridge"], None)?;
    }
    // Bridged traffic must not go through the host's iptables (br_netfilter).
    let _ = run(
        "ip",
        &["link", "set", br, "type", "bridge", "nf_call_iptables", "0"],
        None,
    );
    let addr = format!("{}/24", net.gateway());
    let shown = run("ip", &["-4", "addr", "show", "dev", br], None)?;
    if !shown.contains(&format!(" {addr} ")) {
        run("ip", &["addr", "add", &addr, "dev", br], None)?;
    }
    run("ip", &["link", "set", br, "up"], None)?;
    Ok(())
}

/// Loads (or reloads) the host's table for the bridge; a routed server
/// needs this host to forward (`net.ipv4.ip_forward`), which it turns on.
pub fn load_host_table(net: &NetworkPlan, server: &ServerEndpoint) -> Result<()> {
    delete_host_table(net);
    run("nft", &["-f", "-"], Some(&host_ruleset(net, server)))?;
    if server.routed.is_some() {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
            .map_err(super::io("turning on net.ipv4.ip_forward"))?;
    }
    Ok(())
}

pub fn delete_host_table(net: &NetworkPlan) {
    let _ = run("nft", &["delete", "table", "inet", &host_table(net)], None);
}

/// Removes the bridge (already gone is fine).
pub fn delete_bridge(net: &NetworkPlan) -> Result<()> {
    if run("ip", &["link", "show", &net.bridge], None).is_ok() {
        run("ip", &["link", "del", &net.bridge], None)?;
    }
    Ok(())
}

/// Whether the host still has the bridge or its table.
pub fn exists(net: &NetworkPlan) -> bool {
    run("ip", &["link", "show", &net.bridge], None).is_ok()
        || run("nft", &["list", "table", "inet", &host_table(net)], None).is_ok()
}

/// The host end of a node's veth pair.
pub fn veth_name(net: &NetworkPlan, host_n: u8) -> String {
    format!("alk{}-{host_n}", net.index)
}

/// Plugs a node (a process in its network namespace) into the bridge as
/// `eth0` with `ip`, loads its security group. No default route: only a
/// route to a routed server, through the gateway.
pub fn attach(
    net: &NetworkPlan,
    pid: i32,
    host_n: u8,
    ip: &str,
    server: &ServerEndpoint,
) -> Result<String> {
    let host = veth_name(net, host_n);
    let peer = format!("{host}p");
    let _ = run("ip", &["link", "del", &host], None);
    run(
        "ip",
        &["link", "add", &host, "type", "veth", "peer", "name", &peer],
        None,
    )?;
    run(
        "ip",
        &["link", "set", &peer, "netns", &pid.to_string()],
        None,
    )?;
    run(
        "ip",
        &["link", "set", &host, "master", &net.bridge, "up"],
        None,
    )?;
    let t = pid.to_string();
    let inside = |prog: &str, args: &[&str], stdin: Option<&str>| {
        let mut a = vec!["-t", t.as_str(), "--net", "--", prog];
        a.extend_from_slice(args);
        run("nsenter", &a, stdin)
    };
    inside("nft", &["-f", "-"], Some(&node_ruleset(net, server)))?;
    let mut batch = format!(
        "link set lo up\nlink set {peer} name eth0\naddr add {ip}/24 dev eth0\nlink set eth0 up\n"
    );
    if let Some(addr) = &server.routed {
        batch.push_str(&format!("route add {addr}/32 via {}\n", net.gateway()));
    }
    inside("ip", &["-batch", "-"], Some(&batch))?;
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rulesets_name_only_the_cluster_and_the_endpoint() {
        let n = NetworkPlan::new(7, "vpc-1", "subnet-1");
        let h = host_ruleset(&n, &ServerEndpoint::on_gateway(7443));
        assert!(h.contains("iifname \"airlock7\" ip daddr 10.77.7.1 tcp dport 7443 accept"));
        let g = node_ruleset(&n, &ServerEndpoint::on_gateway(7443));
        assert!(g.contains("policy drop"));
        assert!(g.contains("ip saddr 10.77.7.0/24 ip saddr != 10.77.7.1 accept"));
        assert!(!g.contains("0.0.0.0/0"));
        assert!(veth_name(&NetworkPlan::new(250, "v", "s"), 254).len() < 15);
    }

    #[test]
    fn a_routed_server_is_the_only_place_beyond_the_bridge_nodes_reach() {
        let n = NetworkPlan::new(7, "vpc-1", "subnet-1");
        let s = ServerEndpoint {
            routed: Some("10.76.0.2".into()),
            port: 7443,
        };
        let h = host_ruleset(&n, &s);
        let fwd = &h[h.find("chain forward").unwrap()..];
        let allow = fwd
            .find("iifname \"airlock7\" ip daddr 10.76.0.2 tcp dport 7443 accept")
            .unwrap();
        assert!(allow < fwd.find("iifname \"airlock7\" drop").unwrap());
        let g = node_ruleset(&n, &s);
        assert!(g.contains("ip daddr 10.76.0.2 tcp dport 7443 accept"));
        assert!(!g.contains("ip daddr 10.77.7.1 tcp dport"));
    }
}
