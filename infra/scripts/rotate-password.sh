#!/usr/bin/env bash
# Rotate a warehouse login: new random password in Secrets Manager, then the PostgreSQL role
# on the host (SSM Run Command), then fresh ETL execution environments so that no warm one
# keeps the old password.
#   STACK_NAME [clickstream], AWS_REGION, WHICH=etl|reader [etl]
# Between the secret's update and the role's (a few seconds) a starting ETL run can fail to
# log in; Lambda retries it (EventInvokeConfig), so nothing is lost.
set -euo pipefail

STACK_NAME="${STACK_NAME:-clickstream}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region || true)}}"
: "${REGION:?set AWS_REGION}"
export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"
WHICH="${WHICH:-etl}"

output() {
    aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

case "$WHICH" in
    etl) secret_arn="$(output WarehouseEtlSecretArn)"; user=clickstream_etl ;;
    reader) secret_arn="$(output WarehouseReaderSecretArn)"; user=clickstream_reader ;;
    *) echo "WHICH must be etl or reader" >&2; exit 2 ;;
esac
instance="$(output WarehouseInstanceId)"

password="$(aws secretsmanager get-random-password --exclude-punctuation --password-length 32 \
    --query RandomPassword --output text)"
aws secretsmanager put-secret-value --secret-id "$secret_arn" \
    --secret-string "{\"username\":\"$user\",\"password\":\"$password\"}" >/dev/null
echo "new password stored in $secret_arn"

command_id="$(aws ssm send-command --instance-ids "$instance" --document-name AWS-RunShellScript \
    --comment "clickstream: set role passwords from Secrets Manager" \
    --parameters '{"commands":["set -euo pipefail","set -a; source /etc/clickstream/stack.env; set +a","sudo -u postgres --preserve-env=AWS_REGION,AWS_DEFAULT_REGION,ETL_SECRET_ARN,READER_SECRET_ARN /opt/clickstream/current/venv/bin/python /opt/clickstream/current/app/infra/host/set_passwords.py"]}' \
    --query Command.CommandId --output text)"
aws ssm wait command-executed --command-id "$command_id" --instance-id "$instance"
echo "role $user updated on $instance"

if [[ "$WHICH" == etl ]]; then
    # Any configuration change retires the warm execution environments.
    aws lambda update-function-configuration --function-name "$(output EtlFunctionName)" \
        --description "Hourly - loads new raw objects into staging.raw_events (password rotated $(date -u +%FT%TZ))" \
        >/dev/null
    echo "ETL execution environments recycled"
fi
