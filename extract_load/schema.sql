-- The loader-owned schema (design.md, "Warehouse"). Idempotent: run before every load.
--
-- Indexes are created in a DO block when missing, never by `create index if not exists`:
-- that statement takes its share lock on the table before it sees the index exists, so it
-- waited for every open load (a batch holds a row-exclusive lock until it commits) and
-- concurrent loaders ran one after the other. `create table if not exists` looks at the name
-- first and takes no lock.
create schema if not exists staging;

-- One row per raw line. Exactly-once is guaranteed by the manifest row written in the same
-- transaction as the object's lines, so no unique index slows the COPY down.
-- Partitioned by load day (UTC): one partition per day, staging.raw_events_YYYYMMDD, created
-- by the loader before it writes (extract_load/partitions.py), so that retention drops whole
-- days cheaply (python -m extract_load prune). The default partition only catches rows
-- written by hand for a day that has no partition yet; creating that day moves them out.
create table if not exists staging.raw_events (
    payload jsonb not null,
    s3_key text not null,
    line_number integer not null,
    loaded_at timestamptz not null default now(),
    load_id uuid not null
) partition by range (loaded_at);
create table if not exists staging.raw_events_default
partition of staging.raw_events default;
-- On the partitioned table: every partition, present and future, gets its own BRIN index.
do $$ begin
    if to_regclass('staging.raw_events_loaded_at_idx') is null then
        create index raw_events_loaded_at_idx on staging.raw_events using brin (loaded_at);
    end if;
end $$;

-- One row per day partition of raw_events dropped by the retention (prune), with its line
-- count: the raw lines of these days are gone, their marts' rows are kept. The reconciliation
-- test checks the lines loaded after the newest of these days only.
create table if not exists staging.raw_events_dropped_days (
    load_day date primary key,
    lines bigint not null,
    dropped_at timestamptz not null default now()
);

-- One row per raw object loaded.
create table if not exists staging.load_manifest (
    s3_key text primary key,
    etag text,
    size_bytes bigint not null,
    lines_loaded integer not null,
    lines_rejected integer not null,
    loaded_at timestamptz not null default now(),
    load_id uuid not null
);

-- What could not be loaded, with its reason; line_number is null when the whole object was
-- unreadable.
create table if not exists staging.rejected_events (
    s3_key text not null,
    line_number integer,
    reason text not null,
    raw_line text,
    rejected_at timestamptz not null default now(),
    load_id uuid
);
do $$ begin
    if to_regclass('staging.rejected_events_s3_key_idx') is null then
        create index rejected_events_s3_key_idx on staging.rejected_events (s3_key);
    end if;
end $$;

-- One row per loader run, kept in the same transactions as the manifest rows it sums, so
-- that "what was loaded" is cheap to read (the manifest grows by one row per ingest request).
-- A run that found no new object writes its row at its end, with objects = 0.
create table if not exists staging.load_runs (
    load_id uuid primary key,
    first_loaded_at timestamptz not null,
    loaded_at timestamptz not null,
    objects bigint not null,
    lines_loaded bigint not null,
    lines_rejected bigint not null
);
do $$ begin
    if to_regclass('staging.load_runs_loaded_at_idx') is null then
        create index load_runs_loaded_at_idx on staging.load_runs (loaded_at);
    end if;
end $$;

-- One row per distinct user agent of the raw lines (ingest.user_agent), parsed by the loader
-- in Python (extract_load/user_agents.py) in the same transaction as the lines that brought
-- it: dbt reads device class, browser, OS and bot flag from here (clickstream_events).
create table if not exists staging.user_agents (
    user_agent text primary key,
    device_class text not null
        check (device_class in ('desktop', 'mobile', 'tablet', 'bot', 'other')),
    browser_family text,
    browser_version text,
    os_family text,
    os_version text,
    is_bot boolean not null,
    bot_name text,
    parser_version text not null,
    parsed_at timestamptz not null default now(),
    check (is_bot = (bot_name is not null))
);
