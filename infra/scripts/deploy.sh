#!/usr/bin/env bash
# Deploy (create or update) the stack from the packages `make package` built.
#
# Settings come from the environment (docs/deploy.md lists them):
#   STACK_NAME          stack name                                      [clickstream]
#   AWS_REGION          region (or AWS_DEFAULT_REGION / the CLI profile's)
#   ARTIFACTS_BUCKET    bucket for the packaged code     [clickstream-artifacts-<account>-<region>]
#   ARTIFACTS_PREFIX    key prefix in it                                [<stack name>]
#   CORS_ALLOW_ORIGINS  comma-separated origins allowed to post events
#   ALARM_EMAIL         email subscribed to the alarms
#   WAREHOUSE_INSTANCE_TYPE, LOG_RETENTION_DAYS, RAW_EXPIRATION_DAYS, RAW_TRANSITION_DAYS,
#   ETL_RESERVED_CONCURRENCY (`none` on a new account with a small concurrency quota)
#   WAREHOUSE_AMI_ID    pin an AMI; by default the latest Amazon Linux 2023 on the first
#                       deploy, then the stack's previous value (a new AMI replaces the host)
# Unset settings keep the stack's previous values (or the template's defaults at creation).
set -euo pipefail
cd "$(dirname "$0")/../.."

STACK_NAME="${STACK_NAME:-clickstream}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region || true)}}"
: "${REGION:?set AWS_REGION}"
export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"
ACCOUNT="$(aws sts get-caller-identity --query Account --output text)"
ARTIFACTS_BUCKET="${ARTIFACTS_BUCKET:-clickstream-artifacts-$ACCOUNT-$REGION}"
ARTIFACTS_PREFIX="${ARTIFACTS_PREFIX:-$STACK_NAME}"
BUNDLE="build/host/clickstream-bundle.tar.gz"
# A fixed key: the host's user data names it once; upgrades go through Run Command below.
BUNDLE_KEY="$ARTIFACTS_PREFIX/host/clickstream-bundle.tar.gz"

for file in build/lambda/ingest.zip build/lambda/etl.zip "$BUNDLE"; do
    [[ -f "$file" ]] || { echo "missing $file: run make package first" >&2; exit 1; }
done

ensure_artifacts_bucket() {
    if aws s3api head-bucket --bucket "$ARTIFACTS_BUCKET" 2>/dev/null; then return; fi
    echo "creating the artifacts bucket $ARTIFACTS_BUCKET"
    if [[ "$REGION" == us-east-1 ]]; then
        aws s3api create-bucket --bucket "$ARTIFACTS_BUCKET"
    else
        aws s3api create-bucket --bucket "$ARTIFACTS_BUCKET" \
            --create-bucket-configuration "LocationConstraint=$REGION"
    fi
    aws s3api put-public-access-block --bucket "$ARTIFACTS_BUCKET" --public-access-block-configuration \
        BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
    aws s3api put-bucket-encryption --bucket "$ARTIFACTS_BUCKET" --server-side-encryption-configuration \
        '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
}

stack_exists() {
    aws cloudformation describe-stacks --stack-name "$STACK_NAME" >/dev/null 2>&1
}

stack_output() {
    aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

parameter_overrides() {
    local overrides=("ArtifactsBucket=$ARTIFACTS_BUCKET" "BundleKey=$BUNDLE_KEY")
    if [[ -n "${WAREHOUSE_AMI_ID:-}" ]]; then
        overrides+=("WarehouseAmiId=$WAREHOUSE_AMI_ID")
    elif ! stack_exists; then
        overrides+=("WarehouseAmiId=$(aws ssm get-parameter --query Parameter.Value --output text \
            --name /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64)")
    fi
    [[ -n "${CORS_ALLOW_ORIGINS:-}" ]] && overrides+=("CorsAllowOrigins=$CORS_ALLOW_ORIGINS")
    [[ -n "${ALARM_EMAIL:-}" ]] && overrides+=("AlarmEmail=$ALARM_EMAIL")
    [[ -n "${WAREHOUSE_INSTANCE_TYPE:-}" ]] && overrides+=("WarehouseInstanceType=$WAREHOUSE_INSTANCE_TYPE")
    [[ -n "${LOG_RETENTION_DAYS:-}" ]] && overrides+=("LogRetentionDays=$LOG_RETENTION_DAYS")
    [[ -n "${RAW_EXPIRATION_DAYS:-}" ]] && overrides+=("RawExpirationDays=$RAW_EXPIRATION_DAYS")
    [[ -n "${RAW_TRANSITION_DAYS:-}" ]] && overrides+=("RawTransitionDays=$RAW_TRANSITION_DAYS")
    [[ -n "${ETL_RESERVED_CONCURRENCY:-}" ]] && overrides+=("EtlReservedConcurrency=$ETL_RESERVED_CONCURRENCY")
    printf '%s\n' "${overrides[@]}"
}

# Runs the bundle's bootstrap on a host that is already up (the first boot runs it from
# its user data). Waits for the command and prints its output.
upgrade_host() {
    local instance command_id status
    instance="$(stack_output WarehouseInstanceId)"
    echo "upgrading the warehouse host $instance through SSM Run Command"
    command_id="$(aws ssm send-command --instance-ids "$instance" \
        --document-name AWS-RunShellScript --comment "clickstream upgrade" \
        --parameters "$(printf '{"executionTimeout":["3600"],"commands":["set -euo pipefail","source /etc/clickstream/stack.env","aws s3 cp s3://%s/%s /tmp/clickstream-bundle.tar.gz","rm -rf /opt/clickstream/incoming && install -d /opt/clickstream/incoming","tar -xzf /tmp/clickstream-bundle.tar.gz -C /opt/clickstream/incoming","bash /opt/clickstream/incoming/app/infra/host/bootstrap.sh"]}' \
            "$ARTIFACTS_BUCKET" "$BUNDLE_KEY")" \
        --query Command.CommandId --output text)"
    aws ssm wait command-executed --command-id "$command_id" --instance-id "$instance" || true
    status="$(aws ssm get-command-invocation --command-id "$command_id" --instance-id "$instance" \
        --query Status --output text)"
    aws ssm get-command-invocation --command-id "$command_id" --instance-id "$instance" \
        --query StandardOutputContent --output text | tail -20
    [[ "$status" == Success ]] || { echo "host upgrade: $status" >&2; exit 1; }
}

ensure_artifacts_bucket
existed=false
stack_exists && existed=true

echo "uploading the host bundle to s3://$ARTIFACTS_BUCKET/$BUNDLE_KEY"
aws s3 cp --only-show-errors "$BUNDLE" "s3://$ARTIFACTS_BUCKET/$BUNDLE_KEY"

aws cloudformation package \
    --template-file infra/template.yaml \
    --s3-bucket "$ARTIFACTS_BUCKET" --s3-prefix "$ARTIFACTS_PREFIX/lambda" \
    --output-template-file build/packaged-template.yaml

mapfile -t overrides < <(parameter_overrides)
aws cloudformation deploy \
    --stack-name "$STACK_NAME" \
    --template-file build/packaged-template.yaml \
    --capabilities CAPABILITY_IAM \
    --no-fail-on-empty-changeset \
    --tags project=clickstream-warehouse \
    --parameter-overrides "${overrides[@]}"

if [[ "$existed" == true ]]; then
    upgrade_host
fi

aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text
