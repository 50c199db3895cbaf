"""Run ParallelCluster 3's own validation offline, for the differential test.

Runs inside a venv holding aws-parallelcluster 3.x installed with --no-deps
plus boto3, marshmallow, PyYAML, jinja2, tabulate, packaging and jmespath
(the CDK is not needed to validate; see differential.py):

    python reference_v3.py INSTANCE_TYPES.json.gz MANAGED_POLICY_ARNS.json FILE...

prints one JSON object per FILE: {"file", "accept", "message", "stubbed"}:
the file is read with pcluster's YAML loader, loaded with its marshmallow
ClusterSchema, and checked with its validators; a failure of level ERROR
refuses it. AWS calls are stubbed as in reference_v2.py.
"""

import gzip
import io
import json
import os
import sys
from contextlib import redirect_stderr, redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_v2 as stubs  # noqa: E402  (sets the offline AWS environment)



def check(path):
    from pcluster.schemas.cluster_schema import ClusterSchema
    from pcluster.utils import load_yaml_dict
    from pcluster.validators.common import FailureLevel

    del stubs.STUBBED[:]
    accept, message, warnings, inconclusive = True, "", [], False
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            doc = load_yaml_dict(path)
            cluster = ClusterSchema(cluster_name="difftest").load(doc)
            failures = cluster.validate()
        errors = [f.message for f in failures if f.level == FailureLevel.ERROR]
        warnings = [f.message for f in failures if f.level != FailureLevel.ERROR]
        if errors:
            accept, message = False, errors[0]
    except Exception as e:
        accept, message = False, f"{type(e).__name__}: {e}"
        # A YAML or schema error is a verdict; anything else is the offline
        # run failing (a validator wanting a real stack or AWS answer).
        import marshmallow
        import yaml

        # AWSClientError: a lookup of something the config names failed;
        # the stubs fail only for instance types and AWS managed policies
        # that moto's data does not have, which is a real verdict.
        inconclusive = not isinstance(e, (marshmallow.ValidationError, yaml.YAMLError)) and (
            type(e).__name__ != "AWSClientError")
    return {"file": path, "accept": accept, "message": message.strip(), "warnings": warnings,
            "stubbed": sorted(set(stubs.STUBBED)), "inconclusive": inconclusive}


def main():
    with gzip.open(sys.argv[1]) as f:
        stubs.INSTANCE_TYPES.update(json.load(f))
    with open(sys.argv[2], encoding="utf-8") as f:
        stubs.MANAGED_POLICIES.update(json.load(f))
    stubs.install_stubs()
    for path in sys.argv[3:]:
        print(json.dumps(check(path)), flush=True)


if __name__ == "__main__":
    main()
