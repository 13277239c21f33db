// The partition mail stack in AWS CDK (plain JavaScript: no compile step, the fastest
// way `cdk synth` runs). It is the anchor of tools/bench_generate.py, never deployed:
// the same resources, parameters, conditions and exports as templates/partition_email.py
// renders, from the same properties (ARDA_CDK_PROPS names a JSON file of them, written
// by the benchmark from instances/ with templates.render.props_for).
"use strict";
const fs = require("fs");
const cdk = require("aws-cdk-lib");
const iam = require("aws-cdk-lib/aws-iam");
const lambda = require("aws-cdk-lib/aws-lambda");
const logs = require("aws-cdk-lib/aws-logs");
const route53 = require("aws-cdk-lib/aws-route53");
const secretsmanager = require("aws-cdk-lib/aws-secretsmanager");

const props = JSON.parse(fs.readFileSync(process.env.ARDA_CDK_PROPS, "utf8"));
const SLOTS = [1, 2, 3];

class PartitionEmailStack extends cdk.Stack {
  constructor(scope, id, p, stackProps) {
    super(scope, id, stackProps);
    const prefix = `${p.infrastructure}-${p.partition}-API`;
    const token = new cdk.CfnParameter(this, "PostmarkAccountToken", {
      type: "String",
      noEcho: true,
      minLength: 1,
      description: "Postmark account API token (from 1Password; never logged).",
    });
    const slots = SLOTS.map((n) => {
      const selector = new cdk.CfnParameter(this, `DkimSlot${n}Selector`, {
        type: "String",
        default: "",
        allowedPattern: "^$|^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",
      });
      const value = new cdk.CfnParameter(this, `DkimSlot${n}Value`, {
        type: "String",
        default: "",
        maxLength: 4000,
        allowedPattern: '^$|^"[^"\\\\]{1,255}"( "[^"\\\\]{1,255}")*$',
      });
      const used = new cdk.CfnCondition(this, `HasDkimSlot${n}`, {
        expression: cdk.Fn.conditionNot(cdk.Fn.conditionEquals(selector.valueAsString, "")),
      });
      const empty = (parameter) => cdk.Fn.conditionEquals(parameter.valueAsString, "");
      new cdk.CfnRule(this, `HasDkimSlot${n}Complete`, {
        assertions: [
          {
            assert: cdk.Fn.conditionOr(
              cdk.Fn.conditionAnd(empty(selector), empty(value)),
              cdk.Fn.conditionAnd(cdk.Fn.conditionNot(empty(selector)), cdk.Fn.conditionNot(empty(value))),
            ),
            assertDescription: `DkimSlot${n}Selector and DkimSlot${n}Value must both be set or both be empty`,
          },
        ],
      });
      return { n, selector, value, used };
    });
    for (const [a, b] of [[0, 1], [0, 2], [1, 2]]) {
      new cdk.CfnRule(this, `DkimSlots${a + 1}And${b + 1}Differ`, {
        assertions: [
          {
            assert: cdk.Fn.conditionOr(
              cdk.Fn.conditionEquals(slots[a].selector.valueAsString, ""),
              cdk.Fn.conditionNot(
                cdk.Fn.conditionEquals(slots[a].selector.valueAsString, slots[b].selector.valueAsString),
              ),
            ),
            assertDescription: `DkimSlot${a + 1}Selector must differ from DkimSlot${b + 1}Selector`,
          },
        ],
      });
    }

    const zone = new route53.PublicHostedZone(this, "MailHostedZone", {
      zoneName: p.mail_domain,
      comment: `Arda partition mail domain (${p.infrastructure} ${p.partition})`,
    });
    zone.applyRemovalPolicy(cdk.RemovalPolicy.RETAIN);
    const ttl = cdk.Duration.seconds(p.record_ttl);
    for (const slot of slots) {
      const record = new route53.CfnRecordSet(this, `DkimSlot${slot.n}Record`, {
        hostedZoneId: zone.hostedZoneId,
        name: cdk.Fn.join(".", [slot.selector.valueAsString, "_domainkey", p.mail_domain]),
        type: "TXT",
        ttl: String(p.record_ttl),
        resourceRecords: [slot.value.valueAsString],
      });
      record.cfnOptions.condition = slot.used;
    }
    new route53.TxtRecord(this, "SpfRecord", {
      zone,
      recordName: p.mail_domain,
      values: ["v=spf1 include:spf.mtasv.net ~all"],
      ttl,
    });
    new route53.TxtRecord(this, "DmarcRecord", {
      zone,
      recordName: `_dmarc.${p.mail_domain}`,
      values: [`v=DMARC1; p=${p.dmarc_policy}; rua=mailto:${p.dmarc_report_address}`],
      ttl,
    });
    new route53.CnameRecord(this, "ReturnPathRecord", {
      zone,
      recordName: `pm-bounces.${p.mail_domain}`,
      domainName: "pm.mtasv.net",
      ttl,
    });

    const zoneArn = cdk.Stack.of(this).formatArn({
      service: "route53",
      region: "",
      account: "",
      resource: "hostedzone",
      resourceName: zone.hostedZoneId,
    });
    const recordsRole = new iam.Role(this, "DnsRecordsRole", {
      assumedBy: new iam.ArnPrincipal(p.dns_records_principal),
      description: `Lets the runtime write tenant mail records in ${p.mail_domain}.`,
      inlinePolicies: {
        PartitionMailRecords: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: "ChangeTenantMailRecords",
              actions: ["route53:ChangeResourceRecordSets"],
              resources: [zoneArn],
              conditions: {
                "ForAllValues:StringEquals": { "route53:ChangeResourceRecordSetsRecordTypes": ["TXT", "CNAME"] },
                "ForAllValues:StringLike": { "route53:ChangeResourceRecordSetsNormalizedRecordNames": [`*.${p.mail_domain}`] },
                "ForAllValues:StringNotEquals": {
                  "route53:ChangeResourceRecordSetsNormalizedRecordNames": [`_dmarc.${p.mail_domain}`, `pm-bounces.${p.mail_domain}`],
                },
              },
            }),
            new iam.PolicyStatement({
              sid: "ReadPartitionZone",
              actions: ["route53:GetHostedZone", "route53:ListResourceRecordSets"],
              resources: [zoneArn],
            }),
            new iam.PolicyStatement({
              sid: "ReadChangeStatus",
              actions: ["route53:GetChange"],
              resources: [cdk.Stack.of(this).formatArn({ service: "route53", region: "", account: "", resource: "change", resourceName: "*" })],
            }),
          ],
        }),
      },
    });

    const logGroup = new logs.LogGroup(this, "NsDelegationLogGroup", { retention: logs.RetentionDays.THREE_MONTHS });
    const functionRole = new iam.Role(this, "NsDelegationFunctionRole", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `Runs the NS delegation of ${p.mail_domain} into ${p.parent_zone_name}.`,
      inlinePolicies: {
        NsDelegation: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({ sid: "AssumePlatformRootDelegationRole", actions: ["sts:AssumeRole"], resources: [p.delegation_role_arn] }),
            new iam.PolicyStatement({ sid: "WriteOwnLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [logGroup.logGroupArn] }),
          ],
        }),
      },
    });
    const handler = new lambda.Function(this, "NsDelegationFunction", {
      runtime: lambda.Runtime.PYTHON_3_12,
      handler: "index.handler",
      code: lambda.Code.fromInline(p.delegation_handler_source),
      description: `Custom resource: NS delegation of ${p.mail_domain} in PlatformRoot.`,
      memorySize: 128,
      timeout: cdk.Duration.seconds(180),
      role: functionRole,
      logGroup,
    });
    const delegation = new cdk.CustomResource(this, "NsDelegation", {
      serviceToken: handler.functionArn,
      resourceType: "Custom::NsDelegation",
      serviceTimeout: cdk.Duration.seconds(300),
      properties: {
        AssumeRoleArn: p.delegation_role_arn,
        NameServers: zone.hostedZoneNameServers,
        ParentZoneName: p.parent_zone_name,
        RecordName: p.mail_domain,
        TTL: String(p.ns_ttl),
      },
    });
    delegation.node.addDependency(zone);

    const tokenSecret = new secretsmanager.Secret(this, "PostmarkAccountTokenSecret", {
      description: `Postmark account token of ${p.infrastructure} ${p.partition}.`,
      secretStringValue: cdk.SecretValue.cfnParameter(token),
      removalPolicy: cdk.RemovalPolicy.DESTROY,
    });
    const webhookSecret = new secretsmanager.Secret(this, "WebhookSecret", {
      description: `Basic-auth credential of Postmark webhooks for ${p.mail_domain}.`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: "postmark-webhook" }),
        generateStringKey: "password",
        excludePunctuation: true,
        passwordLength: 40,
      },
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });

    for (const [key, value] of p.tags) cdk.Tags.of(this).add(key, value);
    cdk.Tags.of(this).add("arda:infrastructure", p.infrastructure);
    cdk.Tags.of(this).add("arda:partition", p.partition);

    const output = (id, value, description) =>
      new cdk.CfnOutput(this, id, { value, description, exportName: `${prefix}-${id}` });
    output("MailHostedZoneId", zone.hostedZoneId, "Hosted zone ID of the mail domain.");
    output("MailDomainName", p.mail_domain, "The partition's mail domain.");
    output("ReturnPathDomain", `pm-bounces.${p.mail_domain}`, "Return-Path domain (CNAME to pm.mtasv.net).");
    output("DnsRecordsRoleArn", recordsRole.roleArn, "Role the runtime assumes to write tenant mail records.");
    output("PostmarkAccountTokenSecretArn", tokenSecret.secretArn, "ARN of the Postmark account token secret.");
    output("WebhookSecretArn", webhookSecret.secretArn, "ARN of the generated webhook credential secret.");
    new cdk.CfnOutput(this, "CfnIoMarker", { value: "partition-email/v2", description: "Interface version of this template (not exported)." });
  }
}

// The fastest configuration: no built-in template validation, no tree.json, no analytics
// (generate.py validates nothing either; deploy.py runs cfn-lint).
const app = new cdk.App({ builtinCloudFormationValidation: false, treeMetadata: false, analyticsReporting: false });
new PartitionEmailStack(app, `${props.infrastructure}-${props.partition}-Email`, props, {
  env: { account: props.account_id, region: props.region },
  synthesizer: new cdk.DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
  description: `Arda partition mail: ${props.mail_domain} for ${props.infrastructure}.`,
});
app.synth();
