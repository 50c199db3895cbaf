//! The EC2 provider against moto's EC2 API on loopback (feature `ec2`):
//! the SDK reaches it through `AWS_ENDPOINT_URL` and the standard
//! credential chain, as it would reach AWS. One test per binary: it sets
//! the process's environment before any other thread runs.
//!
//! Needs moto's server (`MOTO_SERVER`, default `/opt/moto-venv/bin/moto_server`,
//! which scripts/install-deps.sh makes); it fails, never skips, without it.

use airlock_cluster::ec2::{Ec2Provider, Ec2Settings};
use airlock_cluster::provider::{InstanceState, LaunchSpec, NodeRole, Provider};
use std::time::Duration;

const CLUSTER: &str = "seed";
const CONFIG: &str = "[aws]\naws_region_name = us-east-1\n\n[global]\ncluster_template = default\n\n\
[cluster default]\nscheduler = slurm\nbase_os = alinux2\nkey_name = lab\nvpc_settings = v\nqueue_settings = q\n\
master_instance_type = t3.micro\nec2_iam_role = hpc-nodes\n\n\
[vpc v]\nvpc_id = VPC\nmaster_subnet_id = SUBNET\n\n\
[queue q]\ncompute_resource_settings = cr\ndisable_hyperthreading = true\n\n\
[compute_resource cr]\ninstance_type = c5.large\nmax_count = 4\n";

mod support {
    pub mod moto;
}
use support::moto::{self, Moto};

fn start_moto() -> Moto {
    moto::start()
}

fn boto(m: &Moto, script: &str) -> String {
    moto::boto(&m.endpoint, script)
}

fn spec<'a>(name: &'a str, id: &'a str, role: NodeRole) -> LaunchSpec<'a> {
    LaunchSpec {
        cluster: CLUSTER,
        instance_id: id,
        name,
        role,
        user_data: "#!/bin/sh\necho joined\n",
    }
}

#[test]
fn a_cluster_on_ec2_is_made_launched_and_deleted_leaving_nothing() {
    let moto = start_moto();
    // The SDK's standard chain: nothing below passes credentials or the
    // endpoint by hand. (The only thread yet: safe to set.)
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &moto.endpoint);
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_ACCESS_KEY_ID");
        std::env::remove_var("AWS_PROFILE");
    }
    let settings = Ec2Settings {
        node_endpoint: "10.0.0.5:7443".into(),
        ..Ec2Settings::default()
    };
    // No credentials anywhere: refused at once, with the fix.
    let e = Ec2Provider::connect(settings.clone())
        .err()
        .expect("no credentials")
        .to_string();
    assert!(
        e.starts_with("no AWS credentials found") && e.contains("hint: set AWS_PROFILE"),
        "{e}"
    );
    // (The refused provider's runtime is shut down; let its thread go.)
    std::thread::sleep(Duration::from_millis(200));
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    }
    let ids = boto(
        &moto,
        "v = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']\n\
         s = ec2.create_subnet(VpcId=v, CidrBlock='10.0.1.0/24')['Subnet']['SubnetId']\n\
         v2 = ec2.create_vpc(CidrBlock='10.9.0.0/16')['Vpc']['VpcId']\n\
         ec2.create_key_pair(KeyName='lab')\n\
         img = ec2.describe_images(Owners=['amazon'])['Images'][0]['ImageId']\n\
         print(v, s, v2, img)",
    );
    let [vpc, subnet, other_vpc, image]: [&str; 4] = ids
        .split_whitespace()
        .collect::<Vec<_>>()
        .try_into()
        .expect("four ids");

    let ec2 = Ec2Provider::connect(Ec2Settings {
        image_id: Some(image.into()),
        ..settings
    })
    .expect("connects through the standard chain");
    ec2.check().expect("EC2 answers");
    assert_eq!(ec2.region(), "us-east-1");
    ec2.check_region("us-east-1").unwrap();
    let e = ec2.check_region("eu-west-1").unwrap_err().to_string();
    assert!(
        e.contains("region is eu-west-1") && e.contains("hint:"),
        "{e}"
    );

    // The network is the user's: a subnet of another VPC is refused.
    let e = ec2
        .create_network(CLUSTER, other_vpc, subnet)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("not in vpc_id {other_vpc}")), "{e}");
    let net = ec2.create_network(CLUSTER, vpc, subnet).unwrap();
    assert_eq!(net.cidr, "10.0.1.0/24");
    let sg = ec2.create_security_group(CLUSTER).unwrap();

    // Nothing in from outside the cluster; out only to itself and the
    // server's one address and port.
    let rules = boto(
        &moto,
        &format!(
            "g = ec2.describe_security_groups(GroupIds=['{sg}'])['SecurityGroups'][0]\n\
             print(json.dumps([g['IpPermissions'], g['IpPermissionsEgress']]))"
        ),
    );
    let rules: serde_json::Value = serde_json::from_str(&rules).unwrap();
    let (ingress, egress) = (&rules[0], &rules[1]);
    assert_eq!(ingress.as_array().map(Vec::len), Some(1), "{ingress}");
    assert_eq!(ingress[0]["UserIdGroupPairs"][0]["GroupId"], sg.as_str());
    assert_eq!(ingress[0]["IpRanges"].as_array().map(Vec::len), Some(0));
    let cidrs: Vec<&str> = egress
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["IpRanges"].as_array().unwrap())
        .filter_map(|r| r["CidrIp"].as_str())
        .collect();
    assert_eq!(cidrs, ["10.0.0.5/32"], "{egress}");

    // Launch templates from the configuration; a missing key pair is named.
    let text = CONFIG.replace("VPC", vpc).replace("SUBNET", subnet);
    let report = airlock_config::load(&text, "seed.ini", None, None);
    let model = report.model.expect("the configuration loads");
    let mut bad_key = model.clone();
    if let Some(k) = bad_key.key_name.as_mut() {
        k.value = "nosuch".into();
    }
    let e = ec2
        .create_launch_templates(CLUSTER, &bad_key)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("InvalidKeyPair.NotFound") && e.contains("hint: create or import the key pair"),
        "{e}"
    );
    ec2.create_launch_templates(CLUSTER, &model).unwrap();
    let lt = boto(
        &moto,
        "for n in ['seed-HeadNode', 'seed-q-c5large']:\n  \
         d = ec2.describe_launch_template_versions(LaunchTemplateName=n)['LaunchTemplateVersions'][0]['LaunchTemplateData']\n  \
         print(n, d['InstanceType'], d.get('KeyName'), d['IamInstanceProfile']['Name'], json.dumps(d.get('CpuOptions')))",
    );
    assert!(
        lt.contains("seed-HeadNode t3.micro lab hpc-nodes null"),
        "{lt}"
    );
    assert!(
        lt.contains(
            r#"seed-q-c5large c5.large lab hpc-nodes {"CoreCount": 1, "ThreadsPerCore": 1}"#
        ),
        "{lt}"
    );

    // Instances: running on return, tagged as ParallelCluster tags them,
    // known by airlock's ids.
    let head = ec2
        .launch(&spec("head", "i-0airlockhead", NodeRole::HeadNode))
        .unwrap();
    assert_eq!(head.state, InstanceState::Running);
    assert!(head.private_ip.starts_with("10.0.1."), "{head:?}");
    let node = ec2
        .launch(&spec("q-dy-c5large-1", "i-0airlocknode", NodeRole::Compute))
        .unwrap();
    let described = ec2.try_describe(CLUSTER).unwrap();
    let mut names: Vec<_> = described
        .iter()
        .map(|i| (i.name.as_str(), i.instance_id.as_str(), i.role))
        .collect();
    names.sort_by_key(|n| n.0);
    assert_eq!(
        names,
        [
            ("head", "i-0airlockhead", NodeRole::HeadNode),
            ("q-dy-c5large-1", "i-0airlocknode", NodeRole::Compute)
        ]
    );
    let tags = boto(
        &moto,
        "r = ec2.describe_instances(Filters=[{'Name': 'tag:airlock:instance-id', 'Values': ['i-0airlocknode']}])\n\
         i = r['Reservations'][0]['Instances'][0]\n\
         t = {x['Key']: x['Value'] for x in i['Tags']}\n\
         u = ec2.describe_instance_attribute(InstanceId=i['InstanceId'], Attribute='userData')['UserData']['Value']\n\
         print(json.dumps([t, base64.b64decode(u).decode(), i['InstanceType'], [g['GroupId'] for g in i['SecurityGroups']]]))",
    );
    let tags: serde_json::Value = serde_json::from_str(&tags).unwrap();
    for (k, v) in [
        ("parallelcluster:cluster-name", "seed"),
        ("parallelcluster:node-type", "Compute"),
        ("parallelcluster:queue-name", "q"),
        ("parallelcluster:compute-resource-name", "c5large"),
        ("Name", "Compute"),
    ] {
        assert_eq!(tags[0][k], v, "{k}: {tags}");
    }
    assert_eq!(tags[1], "#!/bin/sh\necho joined\n");
    assert_eq!(tags[2], "c5.large");
    assert_eq!(tags[3][0], sg.as_str());
    assert!(ec2.clusters().contains(&CLUSTER.to_owned()));

    // Terminated by airlock: gone from the description at once.
    ec2.terminate(CLUSTER, &node.instance_id).unwrap();
    let left: Vec<_> = ec2
        .try_describe(CLUSTER)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(left, ["head"]);
    ec2.terminate(CLUSTER, "i-0neverlaunched")
        .expect("terminating what is gone is fine");

    // A ParallelCluster cluster beside airlock's, of the same name and of
    // another: its launch templates carry only ParallelCluster's tag, and
    // airlock neither lists nor deletes them.
    boto(
        &moto,
        "for n, c in [('pc-seed', 'seed'), ('pc-other', 'other')]:\n\
         \x20   ec2.create_launch_template(LaunchTemplateName=n, LaunchTemplateData={'InstanceType': 't3.micro'}, \
         TagSpecifications=[{'ResourceType': 'launch-template', 'Tags': [{'Key': 'parallelcluster:cluster-name', 'Value': c}]}])\n\
         print('ok')",
    );
    assert!(!ec2.clusters().contains(&"other".to_owned()));

    // Delete leaves no instance, security group, launch template or
    // placement group of the cluster behind.
    ec2.terminate(CLUSTER, &head.instance_id).unwrap();
    ec2.delete_security_group(CLUSTER).unwrap();
    ec2.delete_network(CLUSTER).unwrap();
    let left = boto(
        &moto,
        "f = [{'Name': 'tag:parallelcluster:cluster-name', 'Values': ['seed']}]\n\
         live = [i['InstanceId'] for r in ec2.describe_instances(Filters=f)['Reservations'] for i in r['Instances'] if i['State']['Name'] != 'terminated']\n\
         sgs = [g['GroupId'] for g in ec2.describe_security_groups()['SecurityGroups'] if g['GroupName'] != 'default']\n\
         lts = sorted(t['LaunchTemplateName'] for t in ec2.describe_launch_templates()['LaunchTemplates'])\n\
         print(json.dumps([live, sgs, lts]))",
    );
    assert_eq!(left, r#"[[], [], ["pc-other", "pc-seed"]]"#);
    assert!(!ec2.clusters().contains(&CLUSTER.to_owned()));
    assert!(ec2.try_describe(CLUSTER).unwrap().is_empty());
}
