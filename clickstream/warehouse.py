"""Connections to the warehouse. libpq's PG* variables say where it is."""

from __future__ import annotations

import os
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection

from clickstream.errors import WarehouseUnreachableError


def describe_target() -> str:
    """Where the PG* variables point, for messages (never the password)."""
    host = os.environ.get("PGHOST", "localhost")
    port = os.environ.get("PGPORT", "5432")
    database = os.environ.get("PGDATABASE", os.environ.get("PGUSER", ""))
    return f"postgresql://{host}:{port}/{database}"


def connect(**overrides: Any) -> connection:
    """Open a connection from the PG* environment; WarehouseUnreachableError says why not."""
    overrides.setdefault("connect_timeout", 10)
    overrides.setdefault("application_name", "clickstream-warehouse")
    try:
        return psycopg2.connect(**overrides)
    except psycopg2.OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise WarehouseUnreachableError(
            f"cannot reach the warehouse at {describe_target()}: {first_line}"
        ) from error


def _server_connection() -> connection:
    """The `postgres` database of the server the PG* variables name, in autocommit: CREATE
    and DROP DATABASE refuse to run inside a transaction block. (Not `with conn` on it:
    psycopg2 >= 2.9 opens a transaction block there even in autocommit.)"""
    conn = connect(dbname="postgres")
    conn.autocommit = True
    return conn


def create_database(name: str, *, replace: bool = False) -> None:
    """Create database `name`; with `replace`, drop it first (closing its connections)."""
    if replace:
        drop_database(name)
    conn = _server_connection()
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def drop_database(name: str) -> None:
    """Drop database `name` if it exists, closing its connections."""
    conn = _server_connection()
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
    finally:
        conn.close()
