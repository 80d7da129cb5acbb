"""Set the warehouse roles' passwords from Secrets Manager (run on the host as `postgres`).

    ETL_SECRET_ARN=... READER_SECRET_ARN=... set_passwords.py

Each secret is `{"username": ..., "password": ...}`; the role named by `username` gets the
password. Run by bootstrap.sh at install, and after a rotation (docs/deploy.md). Connects as
the `postgres` superuser over the Unix socket (peer authentication), never over the network.
"""

from __future__ import annotations

import json
import os
import sys

import boto3
import psycopg2
from psycopg2 import sql

SECRET_VARIABLES = ("ETL_SECRET_ARN", "READER_SECRET_ARN")


def login_from_secret(secret_arn: str) -> tuple[str, str]:
    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    secret = json.loads(value["SecretString"])
    return secret["username"], secret["password"]


def set_password(conn: psycopg2.extensions.connection, role: str, password: str) -> None:
    with conn.cursor() as cursor:
        # psycopg2 quotes the password as a literal; the statement is never logged by default.
        cursor.execute(
            sql.SQL("alter role {} with login password %s").format(sql.Identifier(role)),
            (password,),
        )


def main() -> int:
    missing = [name for name in SECRET_VARIABLES if not os.environ.get(name)]
    if missing:
        print(f"set {', '.join(missing)} to the secrets' ARNs", file=sys.stderr)
        return 2
    conn = psycopg2.connect(host="/run/postgresql", user="postgres", dbname="postgres")
    conn.autocommit = True
    try:
        for variable in SECRET_VARIABLES:
            role, password = login_from_secret(os.environ[variable])
            set_password(conn, role, password)
            print(f"password of role {role} set from {variable}")
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
