// Makes and pushes a legacy cosign attestation (`cosign attest`, cosign <= v2 and v3 with
// --new-bundle-format=false) exactly as cosign writes it: an in-toto statement DSSE-signed by
// sigstore-js with a mock Fulcio certificate and logged in the mock Rekor v1 as an "intoto" 0.0.2
// entry (mock_sigstore.mjs's /sign), stored as one layer of the manifest tagged sha256-<hex>.att:
//
//   layer     mediaType application/vnd.dsse.envelope.v1+json, the envelope JSON as Go writes it
//             ({"payloadType","payload","signatures":[{"keyid","sig"}]});
//   annotations dev.cosignproject.cosign/signature "" (the signature is in the envelope),
//             dev.sigstore.cosign/certificate, dev.sigstore.cosign/chain, dev.sigstore.cosign/bundle
//             (the Rekor SET JSON), predicateType;
//   config    application/vnd.oci.image.config.v1+json, go-containerregistry's config of an image
//             made of that one layer (rootfs.diff_ids the layer's digest).
//
//   node attach_att.mjs --mock URL --image HOST:PORT/REPOSITORY --digest sha256:HEX --statement FILE
//                       [--subject SAN] [--issuer URL]
//
// --mock is the running mock_sigstore.mjs ("http://127.0.0.1:PORT"); --subject and --issuer the
// identity the mock Fulcio certifies (its defaults otherwise). The registry is reached over plain
// HTTP (a loopback test registry), without credentials. Exit 0 and one JSON line {"tag", "manifest",
// "layer"} (the digests pushed) when pushed; 1 with the reason on stderr when not; 2 for bad usage.

import crypto from 'node:crypto';
import fs from 'node:fs';
import { parseArgs } from 'node:util';

for (const name of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) {
  delete process.env[name];
}

function usage(message) {
  process.stderr.write(`attach_att: ${message}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      mock: { type: 'string' }, image: { type: 'string' }, digest: { type: 'string' },
      statement: { type: 'string' }, subject: { type: 'string' }, issuer: { type: 'string' },
    },
    strict: true,
  }));
} catch (error) {
  usage(error.message);
}
if (!args.mock || !args.image || !args.digest || !args.statement) {
  usage('--mock, --image, --digest and --statement are required');
}
if (!/^sha256:[0-9a-f]{64}$/.test(args.digest)) usage('--digest must be sha256:<64 hex>');
const slash = args.image.indexOf('/');
if (slash < 0) usage('--image must be HOST:PORT/REPOSITORY');
const registry = `http://${args.image.slice(0, slash)}`;
const repository = args.image.slice(slash + 1);

const sha256 = (data) => `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;

async function check(response, what) {
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${await response.text()}`);
  return response;
}

// Pushes one blob (monolithic upload: POST, then PUT with the digest).
async function pushBlob(bytes) {
  const digest = sha256(bytes);
  const started = await check(await fetch(`${registry}/v2/${repository}/blobs/uploads/`, { method: 'POST' }),
    'starting an upload');
  const location = new URL(started.headers.get('location'), registry);
  location.searchParams.set('digest', digest);
  await check(await fetch(location, {
    method: 'PUT', body: bytes, headers: { 'Content-Type': 'application/octet-stream' },
  }), `uploading ${digest}`);
  return { digest, size: bytes.length };
}

try {
  const statement = fs.readFileSync(args.statement);
  const predicateType = JSON.parse(statement.toString('utf8')).predicateType;
  if (typeof predicateType !== 'string') throw new Error(`${args.statement} has no predicateType`);
  const request = {
    payload_base64: statement.toString('base64'),
    dsse_payload_type: 'application/vnd.in-toto+json',
    rekor_entry_type: 'intoto',
  };
  if (args.subject) request.subject = args.subject;
  if (args.issuer) request.issuer = args.issuer;
  const signed = await (await check(await fetch(`${args.mock}/sign`, {
    method: 'POST', body: JSON.stringify(request), headers: { 'Content-Type': 'application/json' },
  }), 'signing')).json();
  if (!signed.set) throw new Error('the mock answered no Rekor SET');

  // The envelope as go-securesystemslib's dsse.Envelope marshals it (field order included).
  const dsse = signed.bundle.dsseEnvelope;
  const envelope = Buffer.from(JSON.stringify({
    payloadType: dsse.payloadType,
    payload: dsse.payload,
    signatures: dsse.signatures.map((s) => ({ keyid: s.keyid ?? '', sig: s.sig })),
  }));
  const layer = await pushBlob(envelope);
  const config = await pushBlob(Buffer.from(JSON.stringify({
    architecture: '',
    created: '0001-01-01T00:00:00Z',
    history: [{ created: '0001-01-01T00:00:00Z' }],
    os: '',
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
    config: {},
  })));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.size, digest: config.digest },
    layers: [{
      mediaType: 'application/vnd.dsse.envelope.v1+json',
      size: layer.size,
      digest: layer.digest,
      annotations: {
        'dev.cosignproject.cosign/signature': '',
        'dev.sigstore.cosign/bundle': signed.set,
        'dev.sigstore.cosign/certificate': signed.certificate_pem,
        'dev.sigstore.cosign/chain': signed.chain_pem,
        predicateType,
      },
    }],
  }));
  const tag = `${args.digest.replace(':', '-')}.att`;
  await check(await fetch(`${registry}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  }), `pushing ${tag}`);
  process.stdout.write(`${JSON.stringify({ tag, manifest: sha256(manifest), layer: layer.digest })}\n`);
} catch (err) {
  process.stderr.write(`attach_att: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}
