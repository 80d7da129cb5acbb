#!/usr/bin/env bash
# Tear the stack down: empty the raw bucket (every version and delete marker: versioning is
# on), delete the bucket, then delete the stack. Asks before deleting unless CONFIRM=yes.
#   STACK_NAME [clickstream], AWS_REGION, CONFIRM=yes to skip the question.
# The raw bucket is Retain in the template (a stack mistake never loses raw events), which is
# why this script deletes it itself. Left behind on purpose: the final snapshot of the
# warehouse data volume and the artifacts bucket (docs/deploy.md, "Clean-up checklist").
set -euo pipefail

STACK_NAME="${STACK_NAME:-clickstream}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region || true)}}"
: "${REGION:?set AWS_REGION}"
export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"

if ! aws cloudformation describe-stacks --stack-name "$STACK_NAME" >/dev/null 2>&1; then
    echo "no stack $STACK_NAME in $REGION: nothing to destroy"
    exit 0
fi
BUCKET="$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query "Stacks[0].Outputs[?OutputKey=='RawBucketName'].OutputValue" --output text)"

if [[ "${CONFIRM:-}" != yes ]]; then
    read -r -p "Delete stack $STACK_NAME and every raw event in s3://$BUCKET ($REGION)? [y/N] " answer
    [[ "$answer" == y || "$answer" == Y ]] || { echo "cancelled"; exit 1; }
fi

if [[ -n "$BUCKET" && "$BUCKET" != None ]] && aws s3api head-bucket --bucket "$BUCKET" 2>/dev/null; then
    echo "emptying s3://$BUCKET (all versions)"
    "${PYTHON:-python3}" "$(dirname "$0")/empty_bucket.py" "$BUCKET"
    aws s3api delete-bucket --bucket "$BUCKET"
fi

echo "deleting stack $STACK_NAME"
aws cloudformation delete-stack --stack-name "$STACK_NAME"
aws cloudformation wait stack-delete-complete --stack-name "$STACK_NAME"
echo "deleted. Remaining by design: the data volume's final snapshot and the artifacts bucket."
