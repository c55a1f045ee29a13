#!/usr/bin/env node
// Lints a CloudFormation/SAM template with npm cfn-lint, whose bundled resource specification
// (2019) predates types the template uses (e.g. AWS::CloudFront::OriginAccessControl): the
// current specification from @aws-cdk/cfnspec is merged over it first.
//   node deploy/aws/lint.js deploy/aws/template.yaml     exit 0 when there are no errors
'use strict';
const path = require('path');
const root = path.resolve(__dirname, '../..');
const req = (m) => require(require.resolve(m, { paths: [root] }));
const spec = req('@aws-cdk/cfnspec/spec/specification.json');
const resourcesSpec = req('cfn-lint/lib/resourcesSpec');
const api = req('cfn-lint/lib/api');

resourcesSpec.extendSpecification({ PropertyTypes: spec.PropertyTypes, ResourceTypes: spec.ResourceTypes });
// SAM added EphemeralStorage to AWS::Serverless::Function in 2022, after cfn-lint's SAM data;
// it is passed through to AWS::Lambda::Function as is.
const samData = req('cfn-lint/lib/samData');
const sam = samData.samResources20161031;
sam.PropertyTypes['AWS::Serverless::Function.EphemeralStorage'] =
  spec.PropertyTypes['AWS::Lambda::Function.EphemeralStorage'];
sam.ResourceTypes['AWS::Serverless::Function'].Properties.EphemeralStorage =
  { Type: 'EphemeralStorage', Required: false, UpdateType: 'Mutable' };
const file = process.argv[2] || path.join(__dirname, 'template.yaml');
const result = api.validateFile(file, { parameters: {}, pseudoParameters: {} });
const show = (kind) => (result.errors[kind] || []).forEach((e) => console.log(`${kind}: ${e.resource}: ${e.message}`));
show('crit');
show('warn');
show('info');
const errors = (result.errors.crit || []).length;
console.log(result.templateValid && errors === 0 ? 'template valid' : `template invalid: ${errors} errors`);
process.exit(result.templateValid && errors === 0 ? 0 : 1);
