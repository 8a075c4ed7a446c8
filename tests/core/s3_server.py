"""A real S3-compatible HTTP server on loopback for the CDSE-style tests: moto's server mode (`moto[s3,server]`,
in its own environment: its botocore pins python-dateutil below the core environment's), with request
authentication on, so that only the access key made here may read, and each request's signature is checked.

    python s3_server.py FOLDER PORT   uploads FOLDER's files to bucket BUCKET (keys: their paths under FOLDER),
                                      prints one JSON line (endpoint, bucket, the key pair), then serves until
                                      its standard input closes (the test's end).

Run with the S3 environment's Python (`make setup` builds .venv-s3; SARGASSES_S3_PYTHON names another).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

BUCKET = "eodata"  # CDSE's bucket name
# Three unauthenticated actions make the IAM user, its key and its policy; every request after them is checked.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def main(folder: Path, port: int) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        setup = {"endpoint_url": endpoint, "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="forecaster")
        key = iam.create_access_key(UserName="forecaster")["AccessKey"]
        iam.put_user_policy(UserName="forecaster", PolicyName="read", PolicyDocument=json.dumps(POLICY))
        keys = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
        s3 = boto3.client("s3", endpoint_url=endpoint, **keys)
        s3.create_bucket(Bucket=BUCKET)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            s3.upload_file(str(path), BUCKET, path.relative_to(folder).as_posix())
        print(json.dumps({"endpoint": f"127.0.0.1:{port}", "bucket": BUCKET, **keys}), flush=True)
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
