// Verifies one sigstore bundle with sigstore-js (@sigstore/verify) against a trusted_root.json, as
// an independent check of what the test bed (and sigshim) produce.
//
//   node verify_bundle.mjs --bundle FILE --trusted-root FILE --artifact FILE
//       [--san SAN] [--issuer ISSUER] [--tlog-threshold N] [--ctlog-threshold N]
//       [--timestamp-threshold N]
//
// Exit 0 and one JSON line {"verified":true,"san":…,"issuer":…} when it verifies; exit 1 with the
// reason on stderr when it does not; exit 2 for bad usage. The thresholds default to
// @sigstore/verify's own (1 log entry, 1 SCT, 1 timestamp, where a log entry's integrated time counts
// as a timestamp).

import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import fs from 'node:fs';
import { parseArgs } from 'node:util';

function usage(message) {
  process.stderr.write(`verify_bundle: ${message}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: Object.fromEntries(['bundle', 'trusted-root', 'artifact', 'san', 'issuer', 'tlog-threshold',
      'ctlog-threshold', 'timestamp-threshold'].map((name) => [name, { type: 'string' }])),
    strict: true,
  }));
} catch (error) {
  usage(error.message);
}
const args = {
  bundle: values.bundle,
  trustedRoot: values['trusted-root'],
  artifact: values.artifact,
  san: values.san,
  issuer: values.issuer,
  thresholds: {},
};
for (const [flag, threshold] of [['tlog-threshold', 'tlogThreshold'], ['ctlog-threshold', 'ctlogThreshold'],
  ['timestamp-threshold', 'timestampThreshold']]) {
  if (values[flag] !== undefined) args.thresholds[threshold] = Number(values[flag]);
}
if (!args.bundle || !args.trustedRoot || !args.artifact) {
  usage('--bundle, --trusted-root and --artifact are required');
}

try {
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(args.bundle, 'utf8')));
  const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(args.trustedRoot, 'utf8')));
  const verifier = new Verifier(toTrustMaterial(root), args.thresholds);
  const policy = {};
  if (args.san !== undefined) policy.subjectAlternativeName = args.san;
  if (args.issuer !== undefined) policy.extensions = { issuer: args.issuer };
  const signer = verifier.verify(toSignedEntity(bundle, fs.readFileSync(args.artifact)), policy);
  process.stdout.write(`${JSON.stringify({
    verified: true,
    san: signer.identity?.subjectAlternativeName ?? null,
    issuer: signer.identity?.extensions?.issuer ?? null,
  })}\n`);
} catch (e) {
  process.stderr.write(`verify_bundle: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
  process.exit(1);
}
