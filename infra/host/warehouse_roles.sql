-- The warehouse database and its three roles; idempotent. Run by bootstrap.sh as the
-- `postgres` superuser, connected to the `postgres` database:
--
--   psql -v ON_ERROR_STOP=1 -v database=clickstream_dw -v owner=clickstream \
--        -v etl_role=clickstream_etl -v reader_role=clickstream_reader -f warehouse_roles.sql
--
-- owner        owns the database: dbt builds the marts, the dashboard reads them (peer auth
--              over the Unix socket on the host, no password)
-- etl_role     the ETL Lambda: creates and loads the loader-owned `staging` schema
-- reader_role  analysts through the SSM port forward: reads everything, writes nothing
-- Passwords are not set here: set_passwords.py sets them from Secrets Manager.

select format('create role %I login', role_name)
from unnest(array[:'owner', :'etl_role', :'reader_role']) as role_name
where not exists (select from pg_roles where rolname = role_name) \gexec

select format('create database %I owner %I', :'database', :'owner')
where not exists (select from pg_database where datname = :'database') \gexec

select format('grant connect, create on database %I to %I', :'database', :'etl_role') \gexec
select format('revoke connect, temporary on database %I from public', :'database') \gexec
select format('grant connect on database %I to %I', :'database', :'reader_role') \gexec

-- dbt reads the loader's staging tables; analysts read everything (PostgreSQL 14+).
select format('grant pg_read_all_data to %I, %I', :'owner', :'reader_role') \gexec

\connect :database
-- The ETL's `create schema if not exists staging` then finds its own schema.
select format('create schema if not exists staging authorization %I', :'etl_role') \gexec
