#!/usr/bin/env bash
# Installs (or upgrades) the warehouse host from an unpacked bundle; safe to run again.
#
# Run by the instance's user data on first boot, and by `make deploy` through SSM Run Command
# (infra/scripts/deploy.sh) after a new bundle was uploaded. It expects:
#   /etc/clickstream/stack.env            written by the user data (region, secrets, volume...)
#   /opt/clickstream/incoming/app         the project files of the bundle
#   /opt/clickstream/incoming/wheelhouse  the Python wheels (no PyPI from a private subnet)
#
# What it sets up:
#   - PostgreSQL 15 from the Amazon Linux 2023 repositories (served from S3, reached through
#     the S3 gateway endpoint: no NAT gateway needed), data on the encrypted data volume,
#     TLS on, listening on localhost and the private address, scram passwords;
#   - roles: clickstream (owner; dbt and the dashboard, peer auth over the Unix socket),
#     clickstream_etl (the ETL Lambda, TLS from the private subnet), clickstream_reader
#     (analysts, through the SSM port forward), passwords from Secrets Manager;
#   - a Python 3.11 venv with the project, dbt and the dashboard, from the wheelhouse;
#   - systemd: clickstream-dashboard.service (127.0.0.1:3838) and
#     clickstream-after-load.timer (dbt build after each load that added rows).
set -euo pipefail

readonly ROOT=/opt/clickstream
readonly INCOMING="$ROOT/incoming"
readonly PGDATA_MOUNT=/var/lib/pgsql
readonly PGDATA="$PGDATA_MOUNT/data"
readonly SERVICE_USER=clickstream

# Exported: set_passwords.py and the services read these from the environment.
set -a
# shellcheck source=/dev/null
source /etc/clickstream/stack.env
set +a
: "${DATA_VOLUME_ID:?} ${PRIVATE_SUBNET_CIDR:?} ${PGDATABASE:?}"

log() { echo "[bootstrap $(date -u +%H:%M:%S)] $*"; }

install_packages() {
    log "installing PostgreSQL 15 and Python 3.11 from the AL2023 repositories (via S3)"
    dnf install -y --quiet postgresql15 postgresql15-server python3.11 python3.11-pip openssl xfsprogs
    id "$SERVICE_USER" >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/clickstream "$SERVICE_USER"
}

# The volume appears as an NVMe device whose serial is the volume id without its dash.
mount_data_volume() {
    local device="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${DATA_VOLUME_ID//-/}"
    log "waiting for the data volume $DATA_VOLUME_ID"
    for _ in $(seq 1 120); do [[ -e "$device" ]] && break; sleep 5; done
    [[ -e "$device" ]] || { echo "data volume $DATA_VOLUME_ID never attached" >&2; exit 1; }
    if ! blkid "$device" >/dev/null 2>&1; then
        log "formatting the new data volume"
        mkfs.xfs -q "$device"
    fi
    local uuid
    uuid="$(blkid -s UUID -o value "$device")"
    grep -q "$uuid" /etc/fstab || echo "UUID=$uuid $PGDATA_MOUNT xfs defaults,nofail 0 2" >>/etc/fstab
    mkdir -p "$PGDATA_MOUNT"
    mountpoint -q "$PGDATA_MOUNT" || mount "$PGDATA_MOUNT"
    chown postgres:postgres "$PGDATA_MOUNT"
    chmod 0700 "$PGDATA_MOUNT"
}

configure_postgres() {
    if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
        log "initialising the PostgreSQL cluster"
        postgresql-setup --initdb
    fi
    if [[ ! -f "$PGDATA/server.crt" ]]; then
        openssl req -new -x509 -days 3650 -nodes -subj "/CN=clickstream-warehouse" \
            -keyout "$PGDATA/server.key" -out "$PGDATA/server.crt" 2>/dev/null
        chown postgres:postgres "$PGDATA/server.key" "$PGDATA/server.crt"
        chmod 0600 "$PGDATA/server.key"
    fi
    local token private_ip memory_mb
    token="$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')"
    private_ip="$(curl -sf -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/local-ipv4)"
    memory_mb="$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)"
    grep -q "clickstream.conf" "$PGDATA/postgresql.conf" \
        || echo "include_if_exists = 'clickstream.conf'" >>"$PGDATA/postgresql.conf"
    cat >"$PGDATA/clickstream.conf" <<EOF
listen_addresses = 'localhost,$private_ip'
password_encryption = 'scram-sha-256'
ssl = on
shared_buffers = '$((memory_mb / 4))MB'
effective_cache_size = '$((memory_mb / 2))MB'
work_mem = '32MB'
maintenance_work_mem = '256MB'
max_wal_size = '4GB'
EOF
    cat >"$PGDATA/pg_hba.conf" <<EOF
# TYPE   DATABASE      USER                ADDRESS                  METHOD
local    all           postgres                                     peer
local    $PGDATABASE   $SERVICE_USER                                peer
host     $PGDATABASE   clickstream_reader  127.0.0.1/32             scram-sha-256
host     $PGDATABASE   clickstream_reader  ::1/128                  scram-sha-256
hostssl  $PGDATABASE   clickstream_etl     $PRIVATE_SUBNET_CIDR     scram-sha-256
EOF
    chown postgres:postgres "$PGDATA/clickstream.conf" "$PGDATA/pg_hba.conf"
    systemctl enable --now postgresql
    systemctl restart postgresql
}

create_roles() {
    log "creating the database and roles"
    sudo -u postgres psql -q -v ON_ERROR_STOP=1 -d postgres \
        -v database="$PGDATABASE" -v owner="$SERVICE_USER" \
        -v etl_role=clickstream_etl -v reader_role=clickstream_reader \
        -f "$INCOMING/app/infra/host/warehouse_roles.sql"
}

install_release() {
    local release
    release="$ROOT/releases/$(date -u +%Y%m%dT%H%M%SZ)"
    log "installing the project into $release"
    mkdir -p "$release"
    cp -a "$INCOMING/app" "$release/app"
    python3.11 -m venv "$release/venv"
    "$release/venv/bin/pip" install --quiet --no-index --find-links "$INCOMING/wheelhouse" \
        -r "$INCOMING/wheelhouse/requirements.txt"
    "$release/venv/bin/pip" install --quiet --no-index --no-deps "$INCOMING"/wheelhouse/clickstream_warehouse-*.whl
    chown -R "$SERVICE_USER:$SERVICE_USER" "$release"
    ln -sfn "$release" "$ROOT/current.new" && mv -Tf "$ROOT/current.new" "$ROOT/current"
    # Keep the previous release for a quick roll back, nothing older.
    find "$ROOT/releases" -mindepth 1 -maxdepth 1 -type d | sort | head -n -2 | xargs -r rm -rf
}

set_passwords() {
    log "setting the role passwords from Secrets Manager"
    sudo -u postgres --preserve-env=AWS_REGION,AWS_DEFAULT_REGION,ETL_SECRET_ARN,READER_SECRET_ARN \
        "$ROOT/current/venv/bin/python" "$ROOT/current/app/infra/host/set_passwords.py"
}

install_services() {
    log "installing the systemd units"
    cat >/etc/clickstream/warehouse.env <<EOF
PGHOST=/run/postgresql
PGPORT=5432
PGUSER=$SERVICE_USER
PGDATABASE=$PGDATABASE
EOF
    install -m 0644 "$ROOT"/current/app/infra/host/systemd/* /etc/systemd/system/
    systemctl daemon-reload
    systemctl enable --now clickstream-after-load.timer
    systemctl enable clickstream-dashboard.service
    systemctl restart clickstream-dashboard.service
}

install_packages
mount_data_volume
configure_postgres
create_roles
install_release
set_passwords
install_services
rm -rf "$INCOMING"
log "done: dashboard on 127.0.0.1:3838, dbt builds after each load"
