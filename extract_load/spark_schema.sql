-- The loader-owned schema on Spark (issue 12, extract_load/spark_load.py): the tables of
-- extract_load/schema.sql with the same column names, in Parquet. Spark's TIMESTAMP is an
-- instant (shown in the session time zone, UTC): it plays timestamptz's part; uuid is text.
-- Parquet has no transactions, keys or checks: the loader keeps them (the manifest row of an
-- object is written after its lines, and what a killed run left is removed by the next one).
-- Statements are separated by a line holding only ";" (Spark runs one at a time).
create database if not exists staging
;
-- One row per raw line; payload is the JSON line's text (the models parse it with
-- parse_json). Partitioned by load day (UTC), as raw_events is on PostgreSQL.
create table if not exists staging.raw_events (
    payload string,
    s3_key string,
    line_number int,
    loaded_at timestamp,
    load_id string,
    load_day date
) using parquet partitioned by (load_day)
;
create table if not exists staging.raw_events_dropped_days (
    load_day date,
    lines bigint,
    dropped_at timestamp
) using parquet
;
create table if not exists staging.load_manifest (
    s3_key string,
    etag string,
    size_bytes bigint,
    lines_loaded int,
    lines_rejected int,
    loaded_at timestamp,
    load_id string
) using parquet
;
create table if not exists staging.rejected_events (
    s3_key string,
    line_number int,
    reason string,
    raw_line string,
    rejected_at timestamp,
    load_id string
) using parquet
;
create table if not exists staging.load_runs (
    load_id string,
    first_loaded_at timestamp,
    loaded_at timestamp,
    objects bigint,
    lines_loaded bigint,
    lines_rejected bigint
) using parquet
;
create table if not exists staging.user_agents (
    user_agent string,
    device_class string,
    browser_family string,
    browser_version string,
    os_family string,
    os_version string,
    is_bot boolean,
    bot_name string,
    parser_version string,
    parsed_at timestamp
) using parquet
