#!/usr/bin/env python3
"""Differential test: airlock's validation against ParallelCluster 2.11's and 3.16's own.

    scripts/catalogue/differential.py [--work DIR] [--wheel-dir DIR] [-v] [--v2-only]

1. makes two venvs under DIR (default: a temporary directory; kept between
   runs when given) and installs aws-parallelcluster 2.11.9 and 3.16.1 from
   PyPI (or from --wheel-dir, offline), and fetches moto's wheel for its
   EC2 and IAM data;
2. checks that airlock's generated catalogues are what
   scripts/catalogue/generate.py makes of that moto (--check);
3. writes the cases: the files of ../shared/compat/parallelcluster and
   generated variants of one valid base config (valid ones, and ones with
   exactly one defect);
4. runs ParallelCluster's validation offline (reference_v2.py and
   reference_v3.py: AWS calls are stubbed and counted) and airlock's (the
   config_check example of airlock-config);
5. prints the agreement on accept/reject, every disagreement, and, where
   both refuse, whether airlock's first error names the parameter that
   ParallelCluster's names.

Exit 1 on an accept/reject disagreement that docs/COMPATIBILITY.md does not
list as deliberate (KNOWN below), or on stale catalogues. A case on which
ParallelCluster itself fails offline is inconclusive and left out. The
parameter figure is reported, not enforced: the two word their errors
differently, and 3.16 reports every schema error at once.

Needs python3 with venv, network access to PyPI (or --wheel-dir), and
cargo. Run by `make test`; about 2 minutes from nothing, 1.5 once the venvs
exist.
"""

import argparse
import ast
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from generate import MOTO_VERSION  # noqa: E402  (one moto version for catalogues and stubs)

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.abspath(os.path.join(ROOT, "..", "shared", "compat", "parallelcluster"))
PCLUSTER2 = "aws-parallelcluster==2.11.9"
PCLUSTER3 = "aws-parallelcluster==3.16.1"
# What validating a v3 config needs of 3.16's dependencies (not the CDK).
PCLUSTER3_DEPS = ["boto3", "marshmallow~=3.10", "PyYAML", "jinja2~=3.0", "tabulate>=0.8.8,<=0.9.0", "packaging~=25.0", "jmespath"]

BASE3 = """Region: us-east-1
Image:
  Os: alinux2023
HeadNode:
  InstanceType: t3.micro
  Networking:
    SubnetId: subnet-0ab2754446b2f87a4
  Ssh:
    KeyName: sandbox-key-useast1
  Iam:
    AdditionalIamPolicies:
      - Policy: arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore
Scheduling:
  Scheduler: slurm
  SlurmQueues:
    - Name: spot1
      CapacityType: SPOT
      Networking:
        SubnetIds:
          - subnet-0ab2754446b2f87a4
      ComputeResources:
        - Name: spot1-resource
          InstanceType: c5.large
          MaxCount: 10
Tags:
  - Key: Name
    Value: Blog-Sample-ClusterSSM
"""

BASE = """[aws]
aws_region_name = us-east-1

[global]
cluster_template = default
update_check = true
sanity_check = true

[aliases]
ssh = ssh {CFN_USER}@{MASTER_IP} {ARGS}

[cluster default]
key_name = sandbox-key-useast1
scheduler = slurm
base_os = ubuntu1804
master_instance_type = t3.micro
master_root_volume_size = 35
vpc_settings = default
queue_settings = spot1
additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore
tags = { "Name" : "Blog-Sample-ClusterSSM" }

[vpc default]
vpc_id = vpc-07edfc27679c9ca80
master_subnet_id = subnet-0ab2754446b2f87a4
compute_subnet_id = subnet-0ab2754446b2f87a4
use_public_ips = true

[queue spot1]
compute_resource_settings = spot1_resource
placement_group = DYNAMIC
compute_type = spot

[compute_resource spot1_resource]
instance_type = c5.large
max_count = 16
"""

# Disagreements that are deliberate, with the reason (see docs/COMPATIBILITY.md).
KNOWN = {
    "root-volume-30": "airlock accepts 25-34 GiB with a warning (the seed says 30; 2.10 took it)",
    "root-volume-25": "airlock accepts 25-34 GiB with a warning (the seed says 30; 2.10 took it)",
    "compute-root-volume-30": "airlock accepts 25-34 GiB with a warning (the seed says 30; 2.10 took it)",
}


def sub(find, repl, text=BASE):
    if find not in text:
        raise SystemExit(f"differential.py: {find!r} not in the base config")
    return text.replace(find, repl, 1)


def add(section_line, extra, text=BASE):
    return sub(section_line + "\n", section_line + "\n" + extra + "\n", text)


def handmade():
    c = "[cluster default]"
    q = "[queue spot1]"
    cr = "[compute_resource spot1_resource]"
    v = "[vpc default]"
    fsx = lambda body: add(c, "fsx_settings = fs") + "\n[fsx fs]\nshared_dir = /fsx\n" + body
    sit = sub("queue_settings = spot1\n", "compute_instance_type = c5.large\nmax_queue_size = 4\n",
              BASE.split("[queue spot1]")[0])
    cases = {
        "base": BASE,
        # root volumes
        "root-volume-35": BASE,
        "root-volume-30": sub("master_root_volume_size = 35", "master_root_volume_size = 30"),
        "root-volume-25": sub("master_root_volume_size = 35", "master_root_volume_size = 25"),
        "root-volume-20": sub("master_root_volume_size = 35", "master_root_volume_size = 20"),
        "root-volume-100": sub("master_root_volume_size = 35", "master_root_volume_size = 100"),
        "root-volume-text": sub("master_root_volume_size = 35", "master_root_volume_size = big"),
        "compute-root-volume-30": add(c, "compute_root_volume_size = 30"),
        "compute-root-volume-40": add(c, "compute_root_volume_size = 40"),
        # operating systems and schedulers
        "os-alinux2": sub("base_os = ubuntu1804", "base_os = alinux2"),
        "os-centos7": sub("base_os = ubuntu1804", "base_os = centos7"),
        "os-ubuntu2004": sub("base_os = ubuntu1804", "base_os = ubuntu2004"),
        "os-ubuntu2204": sub("base_os = ubuntu1804", "base_os = ubuntu2204"),
        "os-missing": sub("base_os = ubuntu1804\n", ""),
        "scheduler-pbs": sub("scheduler = slurm", "scheduler = pbs"),
        "scheduler-missing": sub("scheduler = slurm\n", ""),
        # architectures, EFA, hyperthreading
        "arm-head-x86-compute": sub("master_instance_type = t3.micro", "master_instance_type = m6g.large"),
        "x86-head-arm-compute": sub("instance_type = c5.large", "instance_type = c6g.large"),
        "arm-head-arm-compute": sub("instance_type = c5.large", "instance_type = c6g.large",
                                    sub("master_instance_type = t3.micro", "master_instance_type = t4g.micro")),
        "arm-disable-ht-queue": add(q, "disable_hyperthreading = true",
                                    sub("instance_type = c5.large", "instance_type = c6g.large",
                                        sub("master_instance_type = t3.micro", "master_instance_type = t4g.micro"))),
        "arm-disable-ht": add(c, "disable_hyperthreading = true",
                              sub("instance_type = c5.large", "instance_type = c6g.large",
                                  sub("master_instance_type = t3.micro", "master_instance_type = t4g.micro"))),
        "x86-disable-ht": add(q, "disable_hyperthreading = true"),
        "arm-centos7": sub("base_os = ubuntu1804", "base_os = centos7",
                           sub("instance_type = c5.large", "instance_type = c6gn.16xlarge",
                               sub("master_instance_type = t3.micro", "master_instance_type = c6gn.large"))),
        "efa-on-c5-large": add(q, "enable_efa = true"),
        "efa-on-c5n-18xlarge": add(q, "enable_efa = true", sub("instance_type = c5.large", "instance_type = c5n.18xlarge")),
        "efa-gdr-without-efa": add(q, "enable_efa_gdr = true"),
        "ht-in-cluster-and-queue": add(q, "disable_hyperthreading = true", add(c, "disable_hyperthreading = true")),
        # a single-queue (SIT) cluster section
        "sit": sit,
        "sit-efa-c5-large": add(c, "enable_efa = compute\nplacement_group = DYNAMIC", sit),
        "sit-efa-c5n": add(c, "enable_efa = compute\nplacement_group = DYNAMIC",
                           sub("compute_instance_type = c5.large", "compute_instance_type = c5n.18xlarge", sit)),
        "sit-arm-compute": sub("compute_instance_type = c5.large", "compute_instance_type = c6g.large", sit),
        "sit-initial-above-max": add(c, "initial_queue_size = 5", sit),
        "intel-hpc-on-arm": add(c, "enable_intel_hpc_platform = true",
                                sub("instance_type = c5.large", "instance_type = c6g.large",
                                    sub("master_instance_type = t3.micro", "master_instance_type = t4g.micro",
                                        sub("base_os = ubuntu1804", "base_os = centos7")))),
        "ht-with-cfn-scheduler-slots": add(c, "disable_hyperthreading = true\n"
                                              'extra_json = { "cluster" : { "cfn_scheduler_slots" : "cores" } }'),
        # instance types
        "compute-type-typo": sub("instance_type = c5.large", "instance_type = c5.lage"),
        "head-type-typo": sub("master_instance_type = t3.micro", "master_instance_type = t3.mikro"),
        "spot-on-ondemand-only": sub("instance_type = c5.large", "instance_type = hpc6a.48xlarge"),
        "ondemand-hpc6a": sub("compute_type = spot", "compute_type = ondemand",
                              sub("instance_type = c5.large", "instance_type = hpc6a.48xlarge")),
        "compute-type-invalid": sub("compute_type = spot", "compute_type = spott"),
        # counts
        "max-count-0": sub("max_count = 16", "max_count = 0"),
        "min-above-max": add(cr, "min_count = 20"),
        "initial-above-max": add(cr, "initial_count = 20"),
        "min-and-initial": add(cr, "min_count = 2\ninitial_count = 4"),
        "spot-price-negative": add(cr, "spot_price = -1"),
        "spot-price": add(cr, "spot_price = 0.5"),
        "max-count-text": sub("max_count = 16", "max_count = many"),
        # JSON parameters
        "tags-yaml-flow": sub('tags = { "Name" : "Blog-Sample-ClusterSSM" }', "tags = {Name: x}"),
        "tags-single-quotes": sub('tags = { "Name" : "Blog-Sample-ClusterSSM" }', "tags = {'a': 'b'}"),
        "tags-version": sub('tags = { "Name" : "Blog-Sample-ClusterSSM" }', 'tags = {"Version": "1"}'),
        "tags-broken": sub('tags = { "Name" : "Blog-Sample-ClusterSSM" }', "tags = {a: [}"),
        "extra-json": add(c, 'extra_json = { "cluster" : { "ganglia_enabled" : "yes" } }'),
        "extra-json-yaml": add(c, "extra_json = {cluster: {ganglia_enabled: 'yes'}}"),
        # policies
        "policy-cloudwatch": sub("additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
                                 "additional_iam_policies = arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"),
        "policy-two": sub("additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
                          "additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore, arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"),
        "policy-unknown-managed": sub("additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
                                      "additional_iam_policies = arn:aws:iam::aws:policy/NoSuchPolicy"),
        "policy-customer": sub("additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
                               "additional_iam_policies = arn:aws:iam::123456789012:policy/mine"),
        "policy-service-role-path": sub("additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
                                        "additional_iam_policies = arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM"),
        "policy-bare-name": sub("additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
                                "additional_iam_policies = AmazonS3ReadOnlyAccess"),
        # names, labels and sections
        "queue-uppercase": sub("[queue spot1]", "[queue Spot1]", sub("queue_settings = spot1", "queue_settings = Spot1")),
        "queue-underscore": sub("[queue spot1]", "[queue spot_1]", sub("queue_settings = spot1", "queue_settings = spot_1")),
        "queue-default": sub("[queue spot1]", "[queue default]", sub("queue_settings = spot1", "queue_settings = default")),
        "queue-trailing-comma": sub("queue_settings = spot1", "queue_settings = spot1,"),
        "queue-missing-section": sub("queue_settings = spot1", "queue_settings = spot2"),
        "duplicate-section": BASE + "\n[queue spot1]\ncompute_type = ondemand\n",
        "duplicate-option": add(c, "scheduler = slurm"),
        "unknown-parameter": add(c, "schedular_typo = slurm"),
        "unknown-section": BASE + "\n[nonsense x]\na = b\n",
        "template-missing": sub("cluster_template = default", "cluster_template = other"),
        "vpc-settings-missing": sub("vpc_settings = default\n", ""),
        "master-subnet-missing": sub("master_subnet_id = subnet-0ab2754446b2f87a4\n", ""),
        "subnet-id-invalid": sub("master_subnet_id = subnet-0ab2754446b2f87a4", "master_subnet_id = subnet-xyz"),
        "vpc-id-invalid": sub("vpc_id = vpc-07edfc27679c9ca80", "vpc_id = vpc-1"),
        "ssh-from-invalid": add(v, "ssh_from = 10.0.0.0/33"),
        "ssh-from-valid": add(v, "ssh_from = 10.0.0.0/16"),
        "key-name-missing": sub("key_name = sandbox-key-useast1\n", ""),
        "scaledown": add(c, "scaling_settings = s") + "\n[scaling s]\nscaledown_idletime = 5\n",
        "two-queues": sub("queue_settings = spot1", "queue_settings = spot1, od") +
                      "\n[queue od]\ncompute_resource_settings = od_cr\n\n[compute_resource od_cr]\ninstance_type = c5.xlarge\n",
        "duplicate-instance-type": sub("compute_resource_settings = spot1_resource", "compute_resource_settings = spot1_resource, r2") +
                                   "\n[compute_resource r2]\ninstance_type = c5.large\n",
        # storage
        "ebs": add(c, "ebs_settings = e") + "\n[ebs e]\nshared_dir = /ebs\nvolume_type = gp3\nvolume_size = 100\n",
        "ebs-bad-type": add(c, "ebs_settings = e") + "\n[ebs e]\nshared_dir = /ebs\nvolume_type = gp9\n",
        "efs": add(c, "efs_settings = e") + "\n[efs e]\nshared_dir = /efs\nperformance_mode = generalPurpose\n",
        "fsx-scratch2": fsx("storage_capacity = 1200\ndeployment_type = SCRATCH_2\n"),
        "fsx-bad-capacity": fsx("storage_capacity = 1000\ndeployment_type = SCRATCH_2\n"),
        "fsx-backup-with-import": fsx("storage_capacity = 1200\ndeployment_type = PERSISTENT_1\nper_unit_storage_throughput = 50\nimport_path = s3://bucket\nautomatic_backup_retention_days = 7\n"),
        "fsx-backup": fsx("storage_capacity = 1200\ndeployment_type = PERSISTENT_1\nper_unit_storage_throughput = 50\nautomatic_backup_retention_days = 7\n"),
        "fsx-backup-scratch": fsx("storage_capacity = 1200\ndeployment_type = SCRATCH_2\nautomatic_backup_retention_days = 7\n"),
        "fsx-ssd-throughput": fsx("storage_capacity = 1200\ndeployment_type = PERSISTENT_1\nper_unit_storage_throughput = 40\n"),
        "fsx-export-without-import": fsx("storage_capacity = 1200\nexport_path = s3://bucket/out\n"),
        "fsx-copy-tags-without-retention": fsx("storage_capacity = 1200\ndeployment_type = PERSISTENT_1\nper_unit_storage_throughput = 50\ncopy_tags_to_backups = true\n"),
    }
    return cases


def handmade_v3():
    s3 = lambda find, repl, text=BASE3: sub(find, repl, text)
    def queues(n, crs):
        # A head node with the memory 3.16 asks for so many nodes.
        head = BASE3.split("  SlurmQueues:\n")[0].replace("InstanceType: t3.micro", "InstanceType: m5.4xlarge")
        head += "  SlurmQueues:\n"
        body = ""
        for q in range(n):
            body += (f"    - Name: q{q}\n      Networking:\n        SubnetIds:\n          - subnet-0ab2754446b2f87a4\n"
                     "      ComputeResources:\n")
            for c in range(crs):
                ty = ["c5.large", "c5.xlarge", "m5.large", "t3.small"][c % 4]
                body += f"        - Name: cr{c}\n          InstanceType: {ty}\n"
        return head + body
    tag = "Tags:\n  - Key: Name\n    Value: Blog-Sample-ClusterSSM\n"
    return {
        "v3-base": BASE3,
        "v3-max-count-string": s3("MaxCount: 10", 'MaxCount: "10"'),
        "v3-max-count-float": s3("MaxCount: 10", "MaxCount: 10.0"),
        "v3-max-count-spaces": s3("MaxCount: 10", 'MaxCount: " 10 "'),
        "v3-max-count-fraction": s3("MaxCount: 10", "MaxCount: 10.5"),
        "v3-max-count-fraction-string": s3("MaxCount: 10", 'MaxCount: "10.5"'),
        "v3-max-count-word": s3("MaxCount: 10", "MaxCount: ten"),
        "v3-max-count-bool": s3("MaxCount: 10", "MaxCount: true"),
        "v3-max-count-0": s3("MaxCount: 10", "MaxCount: 0"),
        "v3-min-above-max": s3("MaxCount: 10", "MaxCount: 4\n          MinCount: 5"),
        "v3-spot-price-string": s3("MaxCount: 10", 'MaxCount: 10\n          SpotPrice: "0.5"'),
        "v3-spot-price-nan": s3("MaxCount: 10", "MaxCount: 10\n          SpotPrice: .nan"),
        "v3-50-queues": queues(50, 1),
        "v3-51-queues": queues(51, 1),
        "v3-25x2-resources": queues(25, 2),
        "v3-26x2-resources": queues(26, 2),
        "v3-reserved-tag": s3(tag, tag + "  - Key: parallelcluster:version\n    Value: x\n"),
        "v3-duplicate-tag": s3(tag, tag + "  - Key: Name\n    Value: y\n"),
        "v3-cr-uppercase": s3("Name: spot1-resource", "Name: Cr1"),
        "v3-cr-underscore": s3("Name: spot1-resource", "Name: spot1_resource"),
        "v3-cr-default": s3("Name: spot1-resource", "Name: default"),
        "v3-queue-uppercase": s3("Name: spot1\n", "Name: Spot1\n"),
        "v3-queue-long": s3("Name: spot1\n", "Name: q123456789012345678901234\n"),
        "v3-merge-key": "x-defaults: &d\n  InstanceType: t3.micro\n" + s3("HeadNode:\n  InstanceType: t3.micro\n", "HeadNode:\n  <<: *d\n"),
        "v3-duplicate-key": s3("  Os: alinux2023\n", "  Os: alinux2023\n  Os: ubuntu2204\n"),
        "v3-os-alinux2": s3("Os: alinux2023", "Os: alinux2"),
        "v3-os-ubuntu2004": s3("Os: alinux2023", "Os: ubuntu2004"),
        "v3-os-ubuntu2404": s3("Os: alinux2023", "Os: ubuntu2404"),
        "v3-os-rocky9": s3("Os: alinux2023", "Os: rocky9"),
        "v3-awsbatch": s3("Scheduler: slurm", "Scheduler: awsbatch"),
        "v3-unknown-key": s3("Region: us-east-1\n", "Region: us-east-1\nRegoin: x\n"),
        "v3-instance-typo": s3("InstanceType: c5.large", "InstanceType: c5.lage"),
        "v3-policy-unknown": s3("AmazonSSMManagedInstanceCore", "NoSuchPolicy"),
        "v3-policy-cloudwatch": s3("AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"),
        "v3-capacity-invalid": s3("CapacityType: SPOT", "CapacityType: SPOTTY"),
        "v3-ondemand": s3("CapacityType: SPOT", "CapacityType: ONDEMAND"),
        "v3-login-key-name": BASE3 + "LoginNodes:\n  Pools:\n    - Name: login\n      InstanceType: t3.small\n      Count: 1\n"
                             "      Networking:\n        SubnetIds:\n          - subnet-0ab2754446b2f87a4\n"
                             "      Ssh:\n        KeyName: k\n",
        "v3-login-no-count": BASE3 + "LoginNodes:\n  Pools:\n    - Name: login\n      InstanceType: t3.small\n"
                             "      Networking:\n        SubnetIds:\n          - subnet-0ab2754446b2f87a4\n",
        "v3-login": BASE3 + "LoginNodes:\n  Pools:\n    - Name: login\n      InstanceType: t3.small\n      Count: 1\n"
                    "      Networking:\n        SubnetIds:\n          - subnet-0ab2754446b2f87a4\n",
        "v3-dev-batch-cli": BASE3 + "DevSettings:\n  AwsBatchCliPackage: s3://bucket/cli.tgz\n",
        "v3-head-too-small": s3("MaxCount: 10", "MaxCount: 16"),
        "v3-head-large-enough": s3("MaxCount: 10", "MaxCount: 16", s3("InstanceType: t3.micro", "InstanceType: t3.small")),
        "v3-arm-compute": s3("InstanceType: c5.large", "InstanceType: c6g.large"),
        "v3-arm-head-and-compute": s3("InstanceType: c5.large", "InstanceType: c6g.large",
                                      s3("InstanceType: t3.micro", "InstanceType: t4g.small")),
    }


def instance_type_cases_v3(catalogue):
    """Every 12th instance type of moto's data, as the compute type of an x86 head node."""
    return {f"v3-compute-{name}": sub("InstanceType: c5.large", f"InstanceType: {name}",
                                      sub("CapacityType: SPOT", "CapacityType: ONDEMAND", BASE3))
            for name in sorted(catalogue)[3::12]}


def instance_type_cases(catalogue):
    """Every 6th instance type of moto's data, as the compute type of an x86 head node."""
    out = {}
    for name in sorted(catalogue)[::6]:
        out[f"compute-{name}"] = sub("instance_type = c5.large", f"instance_type = {name}",
                                     sub("compute_type = spot", "compute_type = ondemand"))
    return out


# What ParallelCluster's first error names. v2: the parameter or the section.
V2_NAMED = [
    re.compile(r"[Cc]onfiguration parameter '([^']+)'"),
    re.compile(r"JSON parameter '([^']+)'"),
    re.compile(r"[Ss]ection '?\[([^\]]+)\]'?"),
    re.compile(r"section '([^']+)' already exists"),
]
# v3: a schema error names its key ({'MaxCount': ['Not a valid integer.']});
# the validators' messages are about a key they do not name.
V3_NAMED = [
    (re.compile(r"'([A-Za-z][A-Za-z0-9]*)': \["), None),
    (re.compile(r"Duplicate key found: (\w+)"), None),
    (re.compile(r"number of (SlurmQueues|ComputeResources)"), None),
    (re.compile(r"^Invalid name '|as a name"), "Name"),
    (re.compile(r"^Max count must be"), "MaxCount"),
    (re.compile(r"[Ii]nstance type"), "InstanceType"),
    (re.compile(r"^Policy arn:"), "Policy"),
    (re.compile(r"no official AMI"), "Os"),
]
INI_SECTION = re.compile(r"\s*\[([^\]]+)\]")
INI_KEY = re.compile(r"\s*([A-Za-z0-9_]+)\s*=")
YAML_KEY = re.compile(r"(\s*(?:-\s+)?)([A-Za-z<][A-Za-z0-9<]*)\s*:")


def reference_parameter(kind, message):
    """The parameter (or v2 section) ParallelCluster's first error is about, or None."""
    first = message.splitlines()[0] if message else ""
    if not kind.startswith("v3"):
        for rx in V2_NAMED:
            m = rx.search(first)
            if m:
                return m.group(1)
        return None
    for rx, key in V3_NAMED:
        m = rx.search(first)
        if m:
            return key or m.group(1)
    return None


def airlock_names(path, result):
    """What airlock's first error names: the words it quotes, and the key at
    the line it points at with that key's section (v2) or parent keys (v3)."""
    if not result["errors"]:
        return set()
    message = result["errors"][0]
    names = set(re.findall(r"'([^']+)'", message)) | set(re.findall(r"\[([^\]]+)\]", message))
    # Parameter names it mentions unquoted: snake_case (v2) and PascalCase (v3) words.
    names |= set(re.findall(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", message))
    names |= set(re.findall(r"\b[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)*\b", message))
    line = (result.get("error_lines") or [None])[0]
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
    except OSError:
        return names
    if not line or line > len(lines):
        return names
    if not path.endswith((".yaml", ".yml")):
        m = INI_SECTION.match(lines[line - 1]) or INI_KEY.match(lines[line - 1])
        if m:
            names.add(m.group(1))
        for l in reversed(lines[:line]):
            m = INI_SECTION.match(l)
            if m:
                names.add(m.group(1))
                break
        return names
    col = None
    for l in reversed(lines[:line]):
        m = YAML_KEY.match(l)
        if m and (col is None or len(m.group(1)) < col):
            names.add(m.group(2))
            col = len(m.group(1))
        elif col is None and l.strip():
            col = len(l) - len(l.lstrip(" -"))
        if col == 0:
            break
    return names


def ensure_venv(work, wheel_dir, name, installs):
    """A venv under WORK/NAME, made once: each of INSTALLS is one `pip install` argument list."""
    py = os.path.join(work, name, "bin", "python")
    done = os.path.join(work, name, ".installed")  # what it holds: remade when that changes
    try:
        with open(done, encoding="utf-8") as f:
            current = f.read() == repr(installs)
    except OSError:
        current = False
    if not current:
        shutil.rmtree(os.path.join(work, name), ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", os.path.join(work, name)], check=True)
        extra = ["--no-index", "--find-links", wheel_dir] if wheel_dir else []
        for args in installs:
            subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + args + extra,
                           check=True)
        with open(done, "w", encoding="utf-8") as f:
            f.write(repr(installs))
    return py


def moto_wheel(work, wheel_dir, py):
    """moto's wheel (the version generate.py names), downloaded once with the venv's pip."""
    d = wheel_dir or os.path.join(work, "moto")
    found = [f for f in os.listdir(d) if f.startswith(f"moto-{MOTO_VERSION}-") and f.endswith(".whl")] \
        if os.path.isdir(d) else []
    if not found and not wheel_dir:
        subprocess.run([py, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        f"moto=={MOTO_VERSION}", "-d", d], check=True)
        found = [f for f in os.listdir(d) if f.startswith(f"moto-{MOTO_VERSION}-") and f.endswith(".whl")]
    if not found:
        raise SystemExit(f"differential.py: no moto-{MOTO_VERSION} wheel in {d}")
    return os.path.join(d, found[0])


def moto_data(work, wheel):
    """moto's EC2 instance types (.json.gz) and the ARNs of its AWS managed policies (.json)."""
    it_path = os.path.join(work, "instance_types.json.gz")
    pol_path = os.path.join(work, "managed_policies.json")
    if not (os.path.exists(it_path) and os.path.exists(pol_path)):
        with zipfile.ZipFile(wheel) as z:
            with open(it_path, "wb") as out:
                out.write(z.read("moto/ec2/resources/instance_types.json.gz"))
            src = z.read("moto/iam/aws_managed_policies.py").decode("utf-8")
        data = next(ast.literal_eval(n.value) for n in ast.parse(src).body
                    if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "aws_managed_policies_data")
        arns = sorted(f"arn:aws:iam::aws:policy{p.get('Path', '/')}{name}" for name, p in json.loads(data).items())
        with open(pol_path, "w", encoding="utf-8") as out:
            json.dump(arns, out)
    return it_path, pol_path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", help="where the venv and cases go (kept between runs)")
    ap.add_argument("--wheel-dir", help="install from these wheels instead of PyPI")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    ap.add_argument("--v2-only", action="store_true", help="skip ParallelCluster 3.16")
    args = ap.parse_args()
    # Absolute: the reference runs are started with cwd=work.
    work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="airlock-differential-"))
    os.makedirs(work, exist_ok=True)
    py = ensure_venv(work, args.wheel_dir, "pc2venv", [[PCLUSTER2]])
    wheel = moto_wheel(work, args.wheel_dir, py)
    it_path, pol_path = moto_data(work, wheel)
    stale = subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), "--check", "--wheel", wheel],
                           capture_output=True, text=True)
    if stale.returncode != 0:
        print(stale.stdout + stale.stderr, end="")
    with gzip.open(it_path) as f:
        catalogue = json.load(f)

    cases_dir = os.path.join(work, "cases")
    shutil.rmtree(cases_dir, ignore_errors=True)
    os.makedirs(cases_dir)
    def write(groups, ext):
        out = {}
        for kind, cases in groups:
            for name, text in cases.items():
                p = os.path.join(cases_dir, f"{name}.{ext}")
                with open(p, "w", encoding="utf-8") as f:
                    f.write(text)
                out[p] = (kind, name)
        return out

    files = write((("variant", handmade()), ("instance-type", instance_type_cases(catalogue))), "ini")
    v3_files = write((("v3-variant", handmade_v3()), ("v3-instance-type", instance_type_cases_v3(catalogue))), "yaml")
    for d in ("v3", "v2-to-v3"):
        folder = os.path.join(CORPUS, d)
        if not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            if f.endswith(".yaml"):
                v3_files[os.path.join(folder, f)] = ("v3-corpus", f"{d}/{f}")
                # The same with an OS that 3.16 supports, to reach the other rules.
                with open(os.path.join(folder, f), encoding="utf-8") as src:
                    text = src.read()
                fixed = "\n".join(
                    "  Os: alinux2023" if line.strip().startswith("Os:") else line for line in text.split("\n"))
                p = os.path.join(cases_dir, f"{d.replace('/', '-')}-{f[:-5]}-alinux2023.yaml")
                with open(p, "w", encoding="utf-8") as out:
                    out.write(fixed)
                v3_files[p] = ("v3-corpus", f"{d}/{f} with Os: alinux2023")
    corpus_v2 = os.path.join(CORPUS, "v2")
    if os.path.isdir(corpus_v2):
        for f in sorted(os.listdir(corpus_v2)):
            if f.endswith(".ini"):
                files[os.path.join(corpus_v2, f)] = ("corpus", f)

    # The references run in parallel (2.11's in two halves): the slow part.
    runs = [(py, "reference_v2.py", list(files)[0::2]), (py, "reference_v2.py", list(files)[1::2])]
    if not args.v2_only:
        py3 = ensure_venv(work, args.wheel_dir, "pc3venv", [["--no-deps", PCLUSTER3], PCLUSTER3_DEPS])
        runs.append((py3, "reference_v3.py", list(v3_files)))
        files.update(v3_files)
    paths = list(files)
    t = time.monotonic()
    procs = [subprocess.Popen([python, os.path.join(HERE, script), it_path, pol_path] + chunk,
                              stdout=subprocess.PIPE, text=True, cwd=work)
             for python, script, chunk in runs]
    reference = {}
    for proc, (_, script, _) in zip(procs, runs):
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"differential.py: {script} failed (exit {proc.returncode})")
        for line in out.splitlines():
            r = json.loads(line)
            reference[r["file"]] = r
    took = {"ParallelCluster 2.11 and 3.16": time.monotonic() - t}
    t = time.monotonic()
    subprocess.run(["cargo", "build", "-q", "-p", "airlock-config", "--example", "config_check"],
                   check=True, cwd=ROOT)
    ours_out = subprocess.run([os.path.join(ROOT, "target", "debug", "examples", "config_check")] + paths,
                              capture_output=True, text=True, check=True, cwd=work)
    ours = {}
    for line in ours_out.stdout.splitlines():
        r = json.loads(line)
        ours[r["file"]] = r
    took["airlock (with its build)"] = time.monotonic() - t

    totals, unexpected, inconclusive = {}, [], []
    stubbed_calls = {}
    named = {"both": 0, "named": 0, "same": 0, "differ": []}
    for p, (kind, name) in files.items():
        a, b = reference[p], ours[p]
        if a.get("inconclusive"):
            inconclusive.append(f"{kind}/{name}: {a['message'].splitlines()[0]}")
            continue
        agree = a["accept"] == b["accept"]
        t = totals.setdefault(kind, [0, 0])
        t[0] += agree
        t[1] += 1
        for c in a["stubbed"]:
            stubbed_calls[c] = stubbed_calls.get(c, 0) + 1
        if not a["accept"] and not b["accept"]:
            named["both"] += 1
            param = reference_parameter(kind, a["message"])
            if param is not None:
                named["named"] += 1
                mine = airlock_names(p, b)
                if param in mine:
                    named["same"] += 1
                else:
                    named["differ"].append(f"{kind}/{name}: ParallelCluster names {param!r}, "
                                           f"airlock {b['errors'][0] if b['errors'] else '(no message)'}")
        if not agree or args.verbose:
            mark = "agree" if agree else ("known" if name in KNOWN else "DIFFER")
            print(f"{mark:6} {kind}/{name}: ParallelCluster {'accepts' if a['accept'] else 'rejects'}"
                  f"{': ' + a['message'].splitlines()[0] if a['message'] else ''}")
            print(f"{'':6}   airlock {'accepts' if b['accept'] else 'rejects'}"
                  f"{': ' + b['errors'][0] if b['errors'] else ''}")
            if not agree and name in KNOWN:
                print(f"{'':6}   deliberate: {KNOWN[name]}")
            if not agree and name not in KNOWN:
                unexpected.append(name)
    print()
    for kind, (ok, n) in totals.items():
        print(f"{kind:16} {ok}/{n} agree on accept/reject ({100.0 * ok / n:.1f}%)")
    all_ok = sum(t[0] for t in totals.values())
    all_n = sum(t[1] for t in totals.values())
    print(f"{'total':16} {all_ok}/{all_n} agree ({100.0 * all_ok / all_n:.1f}%); "
          f"{len(unexpected)} unexplained disagreement(s)")
    for i in inconclusive:
        print(f"inconclusive (ParallelCluster failed offline) {i}")
    print(f"{len(files)} cases: " + ", ".join(f"{k} {v:.0f} s" for k, v in took.items()))
    print("AWS calls stubbed (cases):", ", ".join(f"{k} ({v})" for k, v in sorted(stubbed_calls.items())))
    print(f"both refuse: {named['both']} cases; ParallelCluster's error names a parameter in {named['named']}; "
          f"airlock's first error names the same one in {named['same']}/{named['named']}"
          + (f" ({100.0 * named['same'] / named['named']:.1f}%)" if named["named"] else ""))
    for d in named["differ"]:
        print(f"  other parameter: {d}")
    if stale.returncode != 0:
        print("error: the generated catalogues are stale (see above)")
    return 1 if unexpected or stale.returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
