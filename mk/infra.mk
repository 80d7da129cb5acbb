# AWS deployment (infra/, docs/deploy.md). Settings for deploy/destroy come from the
# environment: STACK_NAME, AWS_REGION, ARTIFACTS_BUCKET, ARTIFACTS_PREFIX, CORS_ALLOW_ORIGINS,
# ALARM_EMAIL, WAREHOUSE_INSTANCE_TYPE, WAREHOUSE_AMI_ID, LOG_RETENTION_DAYS, ... (see the doc).

INFRA_TEMPLATES := $(wildcard infra/*.yaml)

.PHONY: package package-lambdas infra-lint deploy destroy

package: $(INSTALLED) ## build the Lambda zips and the host bundle (wheelhouse) under build/
	$(BIN)/python infra/scripts/package.py all

package-lambdas: $(INSTALLED) ## build only the two Lambda zips under build/lambda/
	$(BIN)/python infra/scripts/package.py lambdas

infra-lint: $(INSTALLED) ## cfn-lint every CloudFormation template in infra/
	$(BIN)/cfn-lint $(INFRA_TEMPLATES)

deploy: package infra-lint ## package, upload and deploy the stack to AWS (needs AWS credentials)
	PYTHON=$(BIN)/python bash infra/scripts/deploy.sh

destroy: $(INSTALLED) ## empty the raw bucket (all versions), then delete the stack (asks first)
	PYTHON=$(BIN)/python bash infra/scripts/destroy.sh

.PHONY: rotate-warehouse-password
rotate-warehouse-password: ## new warehouse password (WHICH=etl|reader) in Secrets Manager and on the host
	bash infra/scripts/rotate-password.sh
