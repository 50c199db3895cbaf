//! A cluster's network: its bridge with the server's agent address, the
//! host's firewall table for that bridge, and each node's veth and security
//! group (nftables inside the node's network namespace).

use super::layout::NetworkPlan;
use super::{Result, run};

fn host_table(net: &NetworkPlan) -> String {
    format!("airlock_{}", net.index)
}

/// The host side: nodes may reach the agent endpoint and each other, and
/// nothing else on or through this machine; the host opens nothing to them.
pub fn host_ruleset(net: &NetworkPlan, agent_port: u16) -> String {
    let (t, br, gw) = (host_table(net), &net.bridge, net.gateway());
    format!(
        "table inet {t} {{
  chain input {{ type filter hook input priority -10; policy accept;
    iifname \"{br}\" ip daddr {gw} tcp dport {agent_port} accept
    iifname \"{br}\" ct state established,related accept
    iifname \"{br}\" drop
  }}
  chain forward {{ type filter hook forward priority -10; policy accept;
    iifname \"{br}\" oifname \"{br}\" accept
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
pub fn node_ruleset(net: &NetworkPlan, agent_port: u16) -> String {
    let (cidr, gw) = (net.cidr(), net.gateway());
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
    ip daddr {gw} tcp dport {agent_port} accept
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

/// Loads (or reloads) the host's table for the bridge.
pub fn load_host_table(net: &NetworkPlan, agent_port: u16) -> Result<()> {
    delete_host_table(net);
    run("nft", &["-f", "-"], Some(&host_ruleset(net, agent_port)))?;
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
/// `eth0` with `ip`, loads its security group. No default route.
pub fn attach(
    net: &NetworkPlan,
    pid: i32,
    host_n: u8,
    ip: &str,
    agent_port: u16,
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
    inside("nft", &["-f", "-"], Some(&node_ruleset(net, agent_port)))?;
    let batch = format!(
        "link set lo up\nlink set {peer} name eth0\naddr add {ip}/24 dev eth0\nlink set eth0 up\n"
    );
    inside("ip", &["-batch", "-"], Some(&batch))?;
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rulesets_name_only_the_cluster_and_the_endpoint() {
        let n = NetworkPlan::new(7, "vpc-1", "subnet-1");
        let h = host_ruleset(&n, 7443);
        assert!(h.contains("iifname \"airlock7\" ip daddr 10.77.7.1 tcp dport 7443 accept"));
        let g = node_ruleset(&n, 7443);
        assert!(g.contains("policy drop"));
        assert!(g.contains("ip saddr 10.77.7.0/24 ip saddr != 10.77.7.1 accept"));
        assert!(!g.contains("0.0.0.0/0"));
        assert!(veth_name(&NetworkPlan::new(250, "v", "s"), 254).len() < 15);
    }
}
