"""The CloudFormation template's security and operations properties (issue 6), read from the
template itself: AWS cannot be reached from here, so these are the checks that can fail."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = REPO_ROOT / "infra" / "template.yaml"
INTERNET = ("0.0.0.0/0", "::/0")

# Every Allow statement whose Resource is "*", with the reason AWS leaves no narrower choice.
# A new one must be added here, with its justification, or the test fails.
WILDCARD_RESOURCE_EXCEPTIONS = {
    ("EtlFunctionRole", "VpcNetworkInterfaces"): (
        "a Lambda in a VPC manages its own ENIs; these EC2 actions take no resource ARN"
    ),
    ("WarehouseRole", "PublishHostMetrics"): (
        "cloudwatch:PutMetricData has no resource-level permission; a namespace condition "
        "narrows it"
    ),
}
# AWS-managed policies a role may carry.
ALLOWED_MANAGED_POLICIES = {"AmazonSSMManagedInstanceCore"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, errors = decode(str(TEMPLATE_PATH))
    assert not errors, errors
    assert decoded is not None
    return decoded


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r.get("Properties", {}) for name, r in resources.items() if r["Type"] == kind}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def ingress_rules(resources: dict[str, Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(group, rule) for inline and stand-alone ingress rules alike."""
    for name, properties in of_type(resources, "AWS::EC2::SecurityGroup").items():
        for rule in properties.get("SecurityGroupIngress", []):
            yield ref(name), rule
    for properties in of_type(resources, "AWS::EC2::SecurityGroupIngress").values():
        yield properties["GroupId"], properties


def covers_port(rule: dict[str, Any], port: int) -> bool:
    if str(rule["IpProtocol"]) == "-1":
        return True
    return int(rule["FromPort"]) <= port <= int(rule["ToPort"])


def policy_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(owner, statement) for every inline IAM policy and every resource policy."""
    for name, properties in of_type(resources, "AWS::IAM::Role").items():
        for policy in properties.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, properties in of_type(resources, kind).items():
            for statement in properties["PolicyDocument"]["Statement"]:
                yield name, statement
    for kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::EC2::VPCEndpoint"):
        for name, properties in of_type(resources, kind).items():
            for statement in properties.get("PolicyDocument", {}).get("Statement", []):
                yield name, statement


# --------------------------------------------------------------------------- network


def test_cfn_lint_passes() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_network_cidrs(template: dict[str, Any], resources: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["VpcCidr"]["Default"] == "10.0.0.0/16"
    assert parameters["PublicSubnetCidr"]["Default"] == "10.0.0.0/20"
    assert parameters["PrivateSubnetCidr"]["Default"] == "10.0.128.0/20"
    assert resources["PrivateSubnet"]["Properties"]["CidrBlock"] == ref("PrivateSubnetCidr")
    assert resources["PrivateSubnet"]["Properties"]["MapPublicIpOnLaunch"] is False


def test_no_nat_gateway_anywhere(resources: dict[str, Any]) -> None:
    assert not of_type(resources, "AWS::EC2::NatGateway")
    for properties in of_type(resources, "AWS::EC2::Route").values():
        assert "NatGatewayId" not in properties


def test_private_route_table_has_no_default_route(resources: dict[str, Any]) -> None:
    associations = of_type(resources, "AWS::EC2::SubnetRouteTableAssociation").values()
    private_tables = [
        a["RouteTableId"] for a in associations if a["SubnetId"] == ref("PrivateSubnet")
    ]
    assert private_tables == [ref("PrivateRouteTable")]
    for properties in of_type(resources, "AWS::EC2::Route").values():
        if properties["RouteTableId"] == ref("PrivateRouteTable"):
            assert properties.get("DestinationCidrBlock") not in INTERNET
            assert properties.get("DestinationIpv6CidrBlock") not in INTERNET


def test_private_subnet_reaches_aws_through_endpoints_only(resources: dict[str, Any]) -> None:
    endpoints = of_type(resources, "AWS::EC2::VPCEndpoint").values()
    gateways = [e for e in endpoints if e["VpcEndpointType"] == "Gateway"]
    assert [g["ServiceName"] for g in gateways] == [{"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}]
    assert gateways[0]["RouteTableIds"] == [ref("PrivateRouteTable")]
    interfaces = {
        str(e["ServiceName"]["Fn::Sub"]).rsplit(".", 1)[-1]: e
        for e in endpoints
        if e["VpcEndpointType"] == "Interface"
    }
    assert {"ssm", "ssmmessages", "ec2messages"} <= set(interfaces)
    for endpoint in interfaces.values():
        assert endpoint["SubnetIds"] == [ref("PrivateSubnet")]
        assert endpoint["PrivateDnsEnabled"] is True


def test_s3_endpoint_policy_names_the_buckets_it_allows(resources: dict[str, Any]) -> None:
    statements = resources["S3GatewayEndpoint"]["Properties"]["PolicyDocument"]["Statement"]
    resources_allowed = [str(r) for s in statements for r in as_list(s["Resource"])]
    # dnf on Amazon Linux 2023 downloads from these S3 buckets: the host needs no NAT.
    assert any("al2023-repos-${AWS::Region}-de612dc2/*" in r for r in resources_allowed)
    assert all(r != "*" and not r.endswith(":::*") for r in resources_allowed)


# --------------------------------------------------------------------------- security groups


def test_no_ingress_from_the_internet(resources: dict[str, Any]) -> None:
    rules = list(ingress_rules(resources))
    assert rules, "expected at least the PostgreSQL rule"
    for _group, rule in rules:
        assert rule.get("CidrIp") not in INTERNET
        assert rule.get("CidrIpv6") not in INTERNET


def test_no_ssh_anywhere(resources: dict[str, Any]) -> None:
    for _group, rule in ingress_rules(resources):
        assert not covers_port(rule, 22)
    for kind in ("AWS::EC2::Instance", "AWS::EC2::LaunchTemplate"):
        for properties in of_type(resources, kind).values():
            assert "KeyName" not in properties
            assert "KeyName" not in properties.get("LaunchTemplateData", {})
    assert not of_type(resources, "AWS::EC2::KeyPair")


def test_postgres_only_from_the_etl_group(resources: dict[str, Any]) -> None:
    postgres_rules = [
        (group, rule) for group, rule in ingress_rules(resources) if covers_port(rule, 5432)
    ]
    assert len(postgres_rules) == 1
    group, rule = postgres_rules[0]
    assert group == ref("WarehouseSecurityGroup")
    assert rule["SourceSecurityGroupId"] == ref("EtlFunctionSecurityGroup")
    assert set(rule) & {"CidrIp", "CidrIpv6", "SourcePrefixListId"} == set()
    etl = resources["EtlFunction"]["Properties"]["VpcConfig"]
    assert etl["SecurityGroupIds"] == [ref("EtlFunctionSecurityGroup")]


def test_the_warehouse_accepts_nothing_else(resources: dict[str, Any]) -> None:
    """The dashboard (3838) is reached through SSM, which needs no inbound rule."""
    warehouse_rules = [
        rule for group, rule in ingress_rules(resources) if group == ref("WarehouseSecurityGroup")
    ]
    assert [(r["FromPort"], r["ToPort"]) for r in warehouse_rules] == [(5432, 5432)]


# --------------------------------------------------------------------------- IAM


def test_no_wildcard_actions_in_allow_statements(resources: dict[str, Any]) -> None:
    for owner, statement in policy_statements(resources):
        if statement["Effect"] != "Allow":
            continue  # a Deny on s3:* is the TLS-only guard, not a grant
        for action in as_list(statement["Action"]):
            assert "*" not in str(action), f"{owner}/{statement.get('Sid')} allows {action}"


def test_wildcard_resources_are_the_justified_exceptions(resources: dict[str, Any]) -> None:
    found = set()
    for owner, statement in policy_statements(resources):
        if statement["Effect"] == "Allow" and "*" in as_list(statement.get("Resource", [])):
            found.add((owner, statement.get("Sid")))
    assert found == set(WILDCARD_RESOURCE_EXCEPTIONS)


def test_only_the_ssm_core_managed_policy(resources: dict[str, Any]) -> None:
    for properties in of_type(resources, "AWS::IAM::Role").values():
        for arn in properties.get("ManagedPolicyArns", []):
            assert str(arn["Fn::Sub"]).rsplit("/", 1)[-1] in ALLOWED_MANAGED_POLICIES


def statements_of(resources: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    policies = resources[role]["Properties"]["Policies"]
    return {s["Sid"]: s for p in policies for s in p["PolicyDocument"]["Statement"]}


def test_ingest_may_only_put_under_the_raw_prefix(resources: dict[str, Any]) -> None:
    statements = statements_of(resources, "IngestFunctionRole")
    s3 = [s for s in statements.values() if any("s3:" in a for a in as_list(s["Action"]))]
    assert len(s3) == 1
    assert s3[0]["Action"] == "s3:PutObject"
    assert s3[0]["Resource"] == {"Fn::Sub": "${RawBucket.Arn}/${RawPrefix}*"}


def test_etl_may_list_and_get_raw_events_and_read_its_secret(resources: dict[str, Any]) -> None:
    statements = statements_of(resources, "EtlFunctionRole")
    assert statements["ListTheRawPrefix"]["Action"] == "s3:ListBucket"
    assert statements["ReadRawEvents"]["Action"] == "s3:GetObject"
    assert statements["WarehouseLogin"]["Resource"] == ref("WarehouseEtlSecret")
    actions = {a for s in statements.values() for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith("s3:")} - {"s3:ListBucket", "s3:GetObject"}


# --------------------------------------------------------------------------- raw bucket


def test_raw_bucket_is_private_encrypted_and_versioned(resources: dict[str, Any]) -> None:
    bucket = resources["RawBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"


def test_raw_bucket_lifecycle_comes_from_parameters(resources: dict[str, Any]) -> None:
    rules = resources["RawBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    age_out = next(rule for rule in rules if "ExpirationInDays" in rule)
    assert age_out["ExpirationInDays"] == ref("RawExpirationDays")
    assert age_out["Transitions"][0]["TransitionInDays"] == ref("RawTransitionDays")
    assert age_out["NoncurrentVersionExpiration"]["NoncurrentDays"] == ref(
        "RawNoncurrentVersionExpirationDays"
    )


def test_raw_bucket_policy_denies_non_tls_access(resources: dict[str, Any]) -> None:
    policy = resources["RawBucketPolicy"]["Properties"]
    assert policy["Bucket"] == ref("RawBucket")
    tls_denials = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(tls_denials) == 1
    denial = tls_denials[0]
    assert denial["Principal"] == "*"
    assert denial["Action"] == "s3:*"
    assert {"Fn::GetAtt": ["RawBucket", "Arn"]} in denial["Resource"]
    assert {"Fn::Sub": "${RawBucket.Arn}/*"} in denial["Resource"]


def test_warehouse_password_is_generated_in_secrets_manager(resources: dict[str, Any]) -> None:
    secret = resources["WarehouseEtlSecret"]["Properties"]
    assert secret["GenerateSecretString"]["GenerateStringKey"] == "password"
    env = resources["EtlFunction"]["Properties"]["Environment"]["Variables"]
    assert "PGPASSWORD" not in env
    assert env["WAREHOUSE_SECRET_ARN"] == ref("WarehouseEtlSecret")


# --------------------------------------------------------------------------- compute


def test_ingest_api_posts_to_the_lambda_with_cors_and_throttling(resources: dict[str, Any]) -> None:
    api = resources["HttpApi"]["Properties"]
    assert api["ProtocolType"] == "HTTP"
    assert api["CorsConfiguration"]["AllowOrigins"] == ref("CorsAllowOrigins")
    assert resources["HttpApiRoute"]["Properties"]["RouteKey"] == "POST /clickstream"
    throttling = resources["HttpApiStage"]["Properties"]["DefaultRouteSettings"]
    assert throttling["ThrottlingRateLimit"] == ref("ApiThrottlingRateLimit")
    assert throttling["ThrottlingBurstLimit"] == ref("ApiThrottlingBurstLimit")
    env = resources["IngestFunction"]["Properties"]["Environment"]["Variables"]
    assert set(env) == {"RAW_BUCKET", "RAW_PREFIX", "CORS_ALLOW_ORIGINS"}


def test_etl_runs_hourly_in_the_private_subnet_with_retries(resources: dict[str, Any]) -> None:
    etl = resources["EtlFunction"]["Properties"]
    assert etl["VpcConfig"]["SubnetIds"] == [ref("PrivateSubnet")]
    rules = of_type(resources, "AWS::Events::Rule")
    assert [r["ScheduleExpression"] for r in rules.values()] == ["rate(1 hour)"]
    target = next(iter(rules.values()))["Targets"][0]
    assert target["Arn"] == {"Fn::GetAtt": ["EtlFunction", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    dead_letter = {"Fn::GetAtt": ["EtlDeadLetterQueue", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == dead_letter
    invoke_config = resources["EtlInvokeConfig"]["Properties"]
    assert invoke_config["MaximumRetryAttempts"] >= 1
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == dead_letter


def test_lambda_code_and_handlers_match_the_packages(resources: dict[str, Any]) -> None:
    spec = importlib.util.spec_from_file_location(
        "infra_package", REPO_ROOT / "infra" / "scripts" / "package.py"
    )
    assert spec is not None
    assert spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = package  # its dataclasses look the module up there
    spec.loader.exec_module(package)
    packages = {p.name: p for p in package.lambda_packages()}
    for name, function in (("ingest", "IngestFunction"), ("etl", "EtlFunction")):
        properties = resources[function]["Properties"]
        code = (TEMPLATE_PATH.parent / properties["Code"]).resolve()
        assert code == REPO_ROOT / "build" / "lambda" / f"{name}.zip"
        module, _, _function = properties["Handler"].rpartition(".")
        assert f"{module.replace('.', '/')}.py" == packages[name].handler_file
        assert properties["Runtime"] == "python3.11"


def test_warehouse_host_is_private_encrypted_and_imdsv2_only(resources: dict[str, Any]) -> None:
    instance = resources["WarehouseInstance"]["Properties"]
    interface = instance["NetworkInterfaces"][0]
    assert interface["SubnetId"] == ref("PrivateSubnet")
    assert interface["AssociatePublicIpAddress"] is False
    assert interface["GroupSet"] == [ref("WarehouseSecurityGroup")]
    assert "SubnetId" not in instance
    assert instance["IamInstanceProfile"] == ref("WarehouseInstanceProfile")
    assert all(m["Ebs"]["Encrypted"] is True for m in instance["BlockDeviceMappings"])
    assert resources["WarehouseDataVolume"]["Properties"]["Encrypted"] is True
    launch_template = instance["LaunchTemplate"]["LaunchTemplateId"]
    assert launch_template == ref("WarehouseLaunchTemplate")
    metadata = resources["WarehouseLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert metadata["MetadataOptions"]["HttpTokens"] == "required"


def test_user_data_runs_the_bootstrap_shipped_in_the_bundle(resources: dict[str, Any]) -> None:
    user_data = resources["WarehouseInstance"]["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    script = str(user_data[0])
    assert "bash /opt/clickstream/incoming/app/infra/host/bootstrap.sh" in script
    assert (REPO_ROOT / "infra" / "host" / "bootstrap.sh").is_file()
    for unit in ("clickstream-dashboard.service", "clickstream-after-load.timer"):
        assert (REPO_ROOT / "infra" / "host" / "systemd" / unit).is_file()


# --------------------------------------------------------------------------- operations


def test_every_log_group_has_a_retention(resources: dict[str, Any]) -> None:
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert groups
    for properties in groups.values():
        assert properties["RetentionInDays"] == ref("LogRetentionDays")
    names = {str(p["LogGroupName"]["Fn::Sub"]) for p in groups.values()}
    for function in of_type(resources, "AWS::Lambda::Function").values():
        assert f"/aws/lambda/{function['FunctionName']['Fn::Sub']}" in names


def alarmed_metrics(resources: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for properties in of_type(resources, "AWS::CloudWatch::Alarm").values():
        assert ref("AlarmTopic") in properties["AlarmActions"]
        stats = [
            m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m
        ]
        if "MetricName" in properties:
            stats.append(properties)
        for metric in stats:
            namespace = metric["Namespace"]
            if isinstance(namespace, dict):  # the project's own namespace, from the mapping
                namespace = "Clickstream"
            found.add((namespace, metric["MetricName"]))
    return found


def test_the_required_alarms_go_to_the_topic(resources: dict[str, Any]) -> None:
    assert alarmed_metrics(resources) >= {
        ("AWS/ApiGateway", "4xx"),
        ("AWS/ApiGateway", "5xx"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("Clickstream", "MinutesSinceLastLoad"),
        ("Clickstream", "DbtBuildFailed"),
        ("AWS/EC2", "StatusCheckFailed_System"),
        ("AWS/EC2", "StatusCheckFailed_Instance"),
        ("AWS/EC2", "CPUUtilization"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    }


def test_no_data_alarm_treats_silence_as_an_alarm(resources: dict[str, Any]) -> None:
    alarm = resources["NoDataLoadedAlarm"]["Properties"]
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["Threshold"] == ref("NoDataAlarmMinutes")


def test_outputs_give_the_port_forwarding_commands(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {"ApiUrl", "RawBucketName", "WarehouseInstanceId"} <= set(outputs)
    for name, port in (("DashboardPortForwardCommand", 3838), ("PostgresPortForwardCommand", 5432)):
        command = str(outputs[name]["Value"]["Fn::Sub"])
        assert command.startswith("aws ssm start-session")
        assert "--target ${WarehouseInstance}" in command
        assert "--document-name AWS-StartPortForwardingSession" in command
        assert f'"portNumber":["{port}"]' in command
