"""Run ParallelCluster 2.11's own validation offline, for the differential test.

Runs inside a venv holding aws-parallelcluster 2.x (see differential.py):

    python reference_v2.py INSTANCE_TYPES.json.gz MANAGED_POLICY_ARNS.json FILE...

prints one JSON object per FILE: {"file", "accept", "message", "stubbed"}.
Every AWS API call is answered by a stub: DescribeInstanceTypes from moto's
EC2 data and iam:GetPolicy of an AWS managed policy from moto's IAM data
(the same data as airlock's catalogues), everything else (subnets,
VPCs, security groups, key pairs, IAM, S3, ...) with a plausible "it exists"
answer; "stubbed" lists those calls, so a reader can tell which checks
depended on AWS and were not really made.
"""

import gzip
import io
import json
import os
import sys
from contextlib import redirect_stderr, redirect_stdout

os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_ACCESS_KEY_ID"] = "offline"
os.environ["AWS_SECRET_ACCESS_KEY"] = "offline"
os.environ.pop("AWS_PROFILE", None)

import botocore.client  # noqa: E402
import botocore.exceptions  # noqa: E402

INSTANCE_TYPES = {}
MANAGED_POLICIES = set()
STUBBED = []


def _subnet(sid):
    return {"SubnetId": sid, "VpcId": VPC_ID[0], "AvailabilityZone": "us-east-1a",
            "AvailabilityZoneId": "use1-az1", "CidrBlock": "10.0.0.0/24", "MapPublicIpOnLaunch": False}


VPC_ID = ["vpc-12345678"]
X86_AMI = "ami-0123456789abcdef0"
ARM_AMI = "ami-0aaaaaaaaaaaaaaa1"


def _answer(svc, op, params):
    if svc == "ec2" and op == "DescribeInstanceTypes":
        names = params.get("InstanceTypes")
        if names:
            missing = [n for n in names if n not in INSTANCE_TYPES]
            if missing:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "InvalidInstanceType",
                               "Message": f"The following supplied instance types do not exist: [{', '.join(missing)}]"}},
                    op)
            return {"InstanceTypes": [INSTANCE_TYPES[n] for n in names]}
        out = list(INSTANCE_TYPES.values())
        for f in params.get("Filters", []):
            if f.get("Name") == "network-info.efa-supported":
                want = f.get("Values", ["true"])[0] == "true"
                out = [t for t in out if t.get("NetworkInfo", {}).get("EfaSupported", False) == want]
        return {"InstanceTypes": out}
    if svc == "iam" and op == "GetPolicy":
        arn = params.get("PolicyArn", "")
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5].startswith("policy/"):
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "ValidationError", "Message": f"ARN {arn} is not valid."}}, op)
        if parts[4] == "aws":
            if arn.replace(f"arn:{parts[1]}:", "arn:aws:", 1) not in MANAGED_POLICIES:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "NoSuchEntity",
                               "Message": f"Policy {arn} does not exist or is not attachable."}}, op)
            return {"Policy": {"Arn": arn}}
        # A customer managed policy: assumed to exist (stubbed).
    STUBBED.append(f"{svc}:{op}")
    if svc == "ec2":
        if op == "DescribeSubnets":
            return {"Subnets": [_subnet(s) for s in params.get("SubnetIds", ["subnet-12345678"])]}
        if op == "DescribeVpcs":
            return {"Vpcs": [{"VpcId": v, "CidrBlock": "10.0.0.0/16"} for v in params.get("VpcIds", VPC_ID)]}
        if op == "DescribeVpcAttribute":
            attr = params.get("Attribute", "enableDnsSupport")
            key = attr[0].upper() + attr[1:]
            return {key: {"Value": True}}
        if op == "DescribeSecurityGroups":
            return {"SecurityGroups": [{"GroupId": g, "VpcId": VPC_ID[0], "IpPermissions": [
                {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": g}], "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
                "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                                         "UserIdGroupPairs": [{"GroupId": g}]}]}
                for g in params.get("GroupIds", ["sg-12345678"])]}
        if op == "DescribeKeyPairs":
            return {"KeyPairs": [{"KeyName": k, "KeyType": "ed25519", "KeyPairId": "key-0123456789abcdef0"}
                                 for k in params.get("KeyNames", [])]}
        if op == "DescribeImages":
            # The official AMI lookup filters by architecture: answer in kind,
            # with an id that says it (for later lookups by id).
            filters = params.get("Filters", [])
            arch = next((f["Values"][0] for f in filters
                         if f.get("Name") == "architecture" and f.get("Values")), None)
            if any("arm64" in v for f in filters if f.get("Name") == "name" for v in f.get("Values", [])):
                arch = "arm64"
            ids = params.get("ImageIds") or [ARM_AMI if arch == "arm64" else X86_AMI]
            return {"Images": [{"ImageId": i, "Architecture": "arm64" if i == ARM_AMI else "x86_64",
                                "State": "available", "CreationDate": "2026-01-01T00:00:00.000Z",
                                "Name": "stub", "Tags": [],
                                "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 35}}]}
                               for i in ids]}
        if op == "DescribeInstanceTypeOfferings":
            return {"InstanceTypeOfferings": [{"InstanceType": t} for t in INSTANCE_TYPES]}
        if op == "DescribeAvailabilityZones":
            return {"AvailabilityZones": [{"ZoneName": "us-east-1a", "ZoneId": "use1-az1"}]}
        if op == "DescribePlacementGroups":
            return {"PlacementGroups": [{"GroupName": g, "Strategy": "cluster", "State": "available"}
                                        for g in params.get("GroupNames", [])]}
        if op == "DescribeSnapshots":
            return {"Snapshots": [{"SnapshotId": s, "State": "completed", "VolumeSize": 10}
                                  for s in params.get("SnapshotIds", [])]}
        if op == "DescribeVolumes":
            return {"Volumes": [{"VolumeId": v, "State": "available", "AvailabilityZone": "us-east-1a"}
                                for v in params.get("VolumeIds", [])]}
        return {}
    if svc == "iam":
        if op == "GetPolicy":
            return {"Policy": {"Arn": params.get("PolicyArn")}}
        if op == "GetRole":
            return {"Role": {"RoleName": params.get("RoleName"), "Arn": "arn:aws:iam::123456789012:role/x"}}
        return {}
    if svc == "sts":
        return {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/x"}
    if svc == "s3":
        if op == "GetBucketLocation":
            return {"LocationConstraint": None}
        return {}
    return {}


def _fake(self, op, params):
    return _answer(self.meta.service_model.service_name, op, params)


def install_stubs():
    """Answer every AWS call from the stubs, and make each kind of boto3
    client once: creating one costs about 60 ms, most of a case's time."""
    import boto3.session

    botocore.client.BaseClient._make_api_call = _fake
    real_client = boto3.session.Session.client
    made = {}

    def client(self, *args, **kwargs):
        key = (args, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        if key not in made:
            made[key] = real_client(self, *args, **kwargs)
        return made[key]

    boto3.session.Session.client = client


def check(path):
    from pcluster.config.pcluster_config import PclusterConfig

    del STUBBED[:]
    out, err = io.StringIO(), io.StringIO()
    accept, message = True, ""
    try:
        with redirect_stdout(out), redirect_stderr(err):
            pc = PclusterConfig(config_file=path, fail_on_file_absence=True, fail_on_error=True)
            pc.validate()
    except SystemExit as e:
        accept, message = False, str(e.code if e.code is not None else "")
    except Exception as e:  # an uncaught exception also refuses the file
        accept, message = False, f"{type(e).__name__}: {e}"
    return {"file": path, "accept": accept, "message": message.strip(),
            "warnings": [l for l in out.getvalue().splitlines() if l.strip()],
            "stubbed": sorted(set(STUBBED))}


def main():
    with gzip.open(sys.argv[1]) as f:
        INSTANCE_TYPES.update(json.load(f))
    with open(sys.argv[2], encoding="utf-8") as f:
        MANAGED_POLICIES.update(json.load(f))
    install_stubs()
    for path in sys.argv[3:]:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip().startswith("vpc_id"):
                    VPC_ID[0] = line.split("=", 1)[1].split("#")[0].strip()
        print(json.dumps(check(path)), flush=True)


if __name__ == "__main__":
    main()
