from __future__ import annotations

from clickstream.storage import s3_client
from clickstream.warehouse import connect
from devtools.services import Plan, ensure_up


def test_services_answer_and_start_idempotently(services: dict[str, str]) -> None:
    assert ensure_up() == ensure_up()  # a second start reuses the running services
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute("select current_database()")
        assert cursor.fetchone() is not None
    assert "Buckets" in s3_client().list_buckets()


def test_nothing_embedded_starts_when_the_environment_names_real_services() -> None:
    plan = Plan.from_env({"PGHOST": "db.internal", "AWS_ENDPOINT_URL": "https://s3.example"})
    assert plan == Plan(embedded_postgres=False, embedded_s3=False)
    assert Plan.from_env({"HOME": "/nonexistent"}) == Plan(True, True)
    with_credentials = {"HOME": "/nonexistent", "AWS_ACCESS_KEY_ID": "AKIA..."}
    assert Plan.from_env(with_credentials).embedded_s3 is False
