// Attaches one sigstore bundle to an image as an OCI 1.1 referrer with @sigstore/oci, exactly as
// sigstore clients attach them: the bundle as the single layer of an artifact manifest (artifactType
// the bundle's media type, subject the image), and, on a registry without the referrers API, the
// referrers tag schema's index (tag sha256-<hex>) updated to list it.
//
//   node attach_bundle.mjs --image HOST:PORT/REPOSITORY --digest sha256:HEX --bundle FILE
//
// A registry on localhost or 127.0.0.1 is reached over plain HTTP (@sigstore/oci's rule), without
// credentials. Exit 0 and one JSON line {"digest":…} (the artifact manifest's descriptor) when it
// is attached; exit 1 with the reason on stderr when it is not; exit 2 for bad usage.

import { attachArtifactToImage } from '@sigstore/oci';
import fs from 'node:fs';
import { parseArgs } from 'node:util';

function usage(message) {
  process.stderr.write(`attach_bundle: ${message}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: { image: { type: 'string' }, digest: { type: 'string' }, bundle: { type: 'string' } },
    strict: true,
  }));
} catch (error) {
  usage(error.message);
}
if (!args.image || !args.digest || !args.bundle) usage('--image, --digest and --bundle are required');

try {
  const bundle = fs.readFileSync(args.bundle);
  const mediaType = JSON.parse(bundle.toString('utf8')).mediaType;
  if (typeof mediaType !== 'string') throw new Error(`${args.bundle} has no mediaType`);
  const descriptor = await attachArtifactToImage({
    imageName: args.image,
    imageDigest: args.digest,
    artifact: bundle,
    mediaType,
    credentials: undefined,
  });
  process.stdout.write(`${JSON.stringify({ digest: descriptor.digest, mediaType: descriptor.mediaType })}\n`);
} catch (err) {
  process.stderr.write(`attach_bundle: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}
