// A mock Fulcio, Rekor and timestamp authority on 127.0.0.1, and a keyless signer that uses them
// through sigstore-js (@sigstore/sign), for sigshim's tests: an independent implementation of
// sigstore signing whose output sigshim must accept or refuse.
//
//   node mock_sigstore.mjs --dir DIR [--backdate-seconds N] [--trusted-root-media-type v0.1|v0.2]
//
// Writes DIR/trusted_root.json (the "main" authorities) and DIR/other_trusted_root.json (the
// "other" authorities: a second, independent set that tests leave untrusted), then prints one line
// to stdout:
//   SIGSTORE_MOCK_READY {"url":"http://127.0.0.1:PORT","trusted_root":"…","other_trusted_root":"…",…}
// and serves until SIGTERM or SIGINT.
//
// Routes (all POST unless said otherwise):
//   /<instance>/fulcio[@OFFSET]/api/v2/signingCert   mock Fulcio (instance: main or other)
//   /<instance>/rekor[@OFFSET]/api/v1/log/entries     mock Rekor v1
//   /<instance>/rekor[@OFFSET]/api/v2/log/entries     Rekor v2 (a real RFC 6962 log kept here; no clock)
//   /<instance>/tsa[@OFFSET]/api/v1/timestamp         mock timestamp authority
//   /sign                                             sign a payload (JSON request, see sign())
//   GET /healthz                                      "ok"
// @OFFSET (seconds, may be negative) moves that service's clock for that request only: a
// certificate's notBefore, an SCT's or a log entry's time, a timestamp's genTime.
//
// Everything each instance signs with is generated at start-up and lives only in memory. The root
// certificates (and the validFor starts in the trusted roots) are back-dated by --backdate-seconds
// (default one day) so that a signature made with a clock moved into the past still chains.

import { bundleToJSON } from '@sigstore/bundle';
import { json as sigstoreJson } from '@sigstore/core';
import {
  fulcioHandler, initializeCA, initializeCTLog, initializeTLog, initializeTSA,
  rekorHandler, tsaHandler,
} from '@sigstore/mock';
import { HashAlgorithm, TransparencyLogEntry } from '@sigstore/protobuf-specs';
import { CreateEntryRequest, Entry as RekorV2Entry } from '@sigstore/protobuf-specs/rekor/v2';
import {
  DSSEBundleBuilder, FulcioSigner, MessageSignatureBundleBuilder, RekorWitness, TSAWitness,
} from '@sigstore/sign';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

// Loopback only: never let a proxy setting route the clients' requests elsewhere.
for (const name of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) {
  delete process.env[name];
}
process.env.no_proxy = process.env.NO_PROXY = '127.0.0.1,localhost';

const TRUSTED_ROOT_MEDIA_TYPES = {
  'v0.1': 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  'v0.2': 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
};

// ---------------------------------------------------------------------------------------------
// Command line.

function parseArgs(argv) {
  const options = { dir: '', backdateSeconds: 86400, mediaType: 'v0.1' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--dir') options.dir = value();
    else if (arg === '--backdate-seconds') options.backdateSeconds = Number(value());
    else if (arg === '--trusted-root-media-type') options.mediaType = value();
    else fail(`unknown argument ${arg}`);
  }
  if (!options.dir) fail('--dir is required');
  if (!Number.isInteger(options.backdateSeconds) || options.backdateSeconds < 0) {
    fail('--backdate-seconds must be a non-negative integer');
  }
  if (!(options.mediaType in TRUSTED_ROOT_MEDIA_TYPES)) {
    fail(`--trusted-root-media-type must be one of ${Object.keys(TRUSTED_ROOT_MEDIA_TYPES).join(', ')}`);
  }
  return options;
}

function fail(message) {
  process.stderr.write(`mock_sigstore: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers.

// Standard PEM: 64-character lines, as Fulcio and Go's encoding/pem write it.
function toPem(der, label = 'CERTIFICATE') {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) || [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function pemToDer(pem) {
  return Buffer.from(pem.replace(/-----(BEGIN|END) [^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function b64url(text) {
  return Buffer.from(text).toString('base64url');
}

// An unsigned JWT ("alg": "none"): the mock Fulcio decodes the claims without checking a signature.
function unsignedJwt(claims) {
  return `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.`;
}

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest();
}

// ---------------------------------------------------------------------------------------------
// Clocks. The mock's components read their clock through a `getCurrentTime` method; a request
// with a clock offset gets a prototype-linked copy whose clock is moved, so the shared instance
// (and its keys and certificates) is untouched.

function withClock(component, offsetSeconds, returnsMillis = false) {
  if (!offsetSeconds) return component;
  const copy = Object.create(component);
  copy.getCurrentTime = () => {
    const when = new Date(Date.now() + offsetSeconds * 1000);
    return returnsMillis ? when.getTime() : when;
  };
  return copy;
}

// The TSA's clock, moved by `offsetSeconds` and cut to whole seconds. The mock writes genTime
// with its milliseconds, as DER's GeneralizedTime wants them (trailing zeros dropped: ".12"),
// while @sigstore/core's parser accepts only exactly three digits, so one timestamp in ten made
// at a millisecond ending in 0 would not parse in sigstore-js's own verifier.
function tsaWithClock(tsa, offsetSeconds) {
  const copy = Object.create(tsa);
  copy.getCurrentTime = () => new Date(Math.floor(Date.now() / 1000 + offsetSeconds) * 1000);
  return copy;
}

// Runs `fn` while `new Date()` and `Date.now()` answer `offsetMs` away from the real time. Used only
// at start-up, to back-date the root certificates that the mock creates with the current time.
async function withShiftedDate(offsetMs, fn) {
  const RealDate = globalThis.Date;
  class ShiftedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offsetMs);
      else super(...args);
    }
    static now() { return RealDate.now() + offsetMs; }
  }
  globalThis.Date = ShiftedDate;
  try {
    return await fn();
  } finally {
    globalThis.Date = RealDate;
  }
}

// ---------------------------------------------------------------------------------------------
// One set of authorities: a Fulcio CA with its CT log, a Rekor log and a TSA.

async function createInstance(name, origin, backdateSeconds) {
  const keys = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const validFrom = new Date(Date.now() - backdateSeconds * 1000);
  const made = await withShiftedDate(-backdateSeconds * 1000, async () => {
    const ctlog = await initializeCTLog(keys());
    const ca = await initializeCA(keys(), ctlog);
    const tlogKeys = keys();
    const tlog = await initializeTLog(`${origin}/${name}/rekor`, tlogKeys);
    const tsa = await initializeTSA(keys());
    return { ctlog, ca, tlog, tsa, tlogKeys };
  });
  const { tlogKeys, ...services } = made;
  return { name, origin, validFrom, ...services, v2log: createV2Log(`${origin}/${name}/rekor`, tlogKeys) };
}

function trustedRoot(instance, mediaType) {
  const { origin, name, validFrom, ca, ctlog, tlog, tsa } = instance;
  const validFor = { start: validFrom.toISOString() };
  const tlogKey = Buffer.from(tlog.publicKey);
  return {
    mediaType: TRUSTED_ROOT_MEDIA_TYPES[mediaType],
    tlogs: [{
      baseUrl: `${origin}/${name}/rekor`,
      hashAlgorithm: 'SHA2_256',
      publicKey: {
        rawBytes: tlogKey.toString('base64'),
        keyDetails: 'PKIX_ECDSA_P256_SHA_256',
        validFor,
      },
      logId: { keyId: sha256(tlogKey).toString('base64') },
    }],
    certificateAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
      uri: `${origin}/${name}/fulcio`,
      certChain: { certificates: [{ rawBytes: ca.rootCertificate.toString('base64') }] },
      validFor,
    }],
    ctlogs: [{
      baseUrl: `${origin}/${name}/ctlog`,
      hashAlgorithm: 'SHA2_256',
      publicKey: {
        rawBytes: Buffer.from(ctlog.publicKey).toString('base64'),
        keyDetails: 'PKIX_ECDSA_P256_SHA_256',
        validFor,
      },
      logId: { keyId: Buffer.from(ctlog.logID).toString('base64') },
    }],
    timestampAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'tsa' },
      uri: `${origin}/${name}/tsa`,
      certChain: {
        certificates: [
          { rawBytes: tsa.intCertificate.toString('base64') },
          { rawBytes: tsa.rootCertificate.toString('base64') },
        ],
      },
      validFor,
    }],
  };
}

// ---------------------------------------------------------------------------------------------
// Rekor v2, done here: @sigstore/mock 0.12.1's v2 log records its protobuf request object as the
// body (no kind/apiVersion), proves inclusion in a one-entry tree under a random index, and signs
// a v1-style checkpoint, so no verifier accepts its entries. This log is an append-only RFC 6962
// tree per instance, keyed by the instance's Rekor key (the key its trusted root lists):
//  - the body is what Rekor v2 stores: a rekor.v2.Entry (kind, apiVersion 0.0.2, spec
//    hashedRekordV002 or dsseV002 with the payload's SHA-256 and the signatures with their
//    verifiers) in canonical JSON (RFC 8785);
//  - the leaf hash is SHA-256(0x00 || body); the tree starts with two filler leaves so that every
//    proof has hashes; the inclusion proof is RFC 6962's audit path;
//  - the checkpoint is a signed note (c2sp.org/tlog-checkpoint): origin = the log's base URL
//    without its scheme, tree size, base64 root hash, then "— <origin> base64(key hint ||
//    ECDSA signature)", the key hint being the first 4 bytes of the log id (SHA-256 of the key).
// No integrated time: a Rekor v2 entry's time must come from a timestamp.

const leafHash = (data) => crypto.createHash('sha256').update(Buffer.from([0])).update(data).digest();
const nodeHash = (l, r) => crypto.createHash('sha256').update(Buffer.from([1])).update(l).update(r).digest();

// The largest power of two smaller than n (n > 1).
function splitPoint(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// RFC 6962 MTH over `leaves` (leaf hashes).
function treeHash(leaves) {
  if (leaves.length === 1) return leaves[0];
  const k = splitPoint(leaves.length);
  return nodeHash(treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}

// RFC 6962 PATH(m, leaves): the audit path from leaf m up.
function auditPath(m, leaves) {
  if (leaves.length === 1) return [];
  const k = splitPoint(leaves.length);
  if (m < k) return [...auditPath(m, leaves.slice(0, k)), treeHash(leaves.slice(k))];
  return [...auditPath(m - k, leaves.slice(k)), treeHash(leaves.slice(0, k))];
}

function createV2Log(baseUrl, keyPair) {
  const url = new URL(baseUrl);
  const origin = `${url.host}${url.pathname}`.replace(/\/$/, '');
  const publicDer = keyPair.publicKey.export({ format: 'der', type: 'spki' });
  const logId = sha256(publicDer);
  const leaves = [leafHash(crypto.randomBytes(32)), leafHash(crypto.randomBytes(32))];

  // Returns the rekor.v2.Entry that Rekor v2 stores for a CreateEntryRequest.
  function entryFor(request) {
    const spec = request.spec;
    if (spec?.$case === 'dsseRequestV002') {
      const { envelope, verifiers } = spec.dsseRequestV002;
      if (!envelope || envelope.signatures.length === 0) throw new Error('dsseRequestV002: no envelope signature');
      return {
        kind: 'dsse',
        apiVersion: '0.0.2',
        spec: {
          spec: {
            $case: 'dsseV002',
            dsseV002: {
              payloadHash: { algorithm: HashAlgorithm.SHA2_256, digest: sha256(envelope.payload) },
              signatures: envelope.signatures.map((signature, i) => ({
                content: signature.sig,
                verifier: verifiers[Math.min(i, verifiers.length - 1)],
              })),
            },
          },
        },
      };
    }
    if (spec?.$case === 'hashedRekordRequestV002') {
      const { digest, signature } = spec.hashedRekordRequestV002;
      return {
        kind: 'hashedrekord',
        apiVersion: '0.0.2',
        spec: {
          spec: {
            $case: 'hashedRekordV002',
            hashedRekordV002: { data: { algorithm: HashAlgorithm.SHA2_256, digest }, signature },
          },
        },
      };
    }
    throw new Error('the request is neither dsseRequestV002 nor hashedRekordRequestV002');
  }

  // Appends the entry for `request` (CreateEntryRequest JSON) and returns the TransparencyLogEntry
  // JSON Rekor v2 answers.
  function add(requestJson) {
    const entry = entryFor(CreateEntryRequest.fromJSON(requestJson));
    const body = Buffer.from(sigstoreJson.canonicalize(RekorV2Entry.toJSON(entry)));
    leaves.push(leafHash(body));
    const index = leaves.length - 1;
    const size = leaves.length;
    const root = treeHash(leaves);
    const note = `${origin}\n${size}\n${root.toString('base64')}\n`;
    const signature = crypto.sign('sha256', Buffer.from(note), keyPair.privateKey);
    const line = `\u2014 ${origin} ${Buffer.concat([logId.subarray(0, 4), signature]).toString('base64')}\n`;
    return TransparencyLogEntry.toJSON({
      logIndex: String(index),
      logId: { keyId: logId },
      kindVersion: { kind: entry.kind, version: entry.apiVersion },
      integratedTime: '0',
      inclusionPromise: undefined,
      inclusionProof: {
        logIndex: String(index),
        rootHash: root,
        treeSize: String(size),
        hashes: auditPath(index, leaves),
        checkpoint: { envelope: `${note}\n${line}` },
      },
      canonicalizedBody: body,
    });
  }
  return { add };
}

// ---------------------------------------------------------------------------------------------
// The mock services behind HTTP.

// Real Rekor does not store a proposed "dsse" entry as sent: it stores the envelope's and the
// payload's SHA-256 and the signatures with their verifiers (rekor pkg/types/dsse/v0.0.1,
// Canonicalize). The mock would log the proposed content itself; this turns it into what real
// Rekor logs. The envelope's signatures are not checked here (sigstore-js made them).
function canonicalDsseEntry(proposed) {
  const content = proposed?.spec?.proposedContent;
  if (proposed?.kind !== 'dsse' || !content) return proposed;
  const envelope = JSON.parse(content.envelope);
  const verifiers = content.verifiers || [];
  const signatures = envelope.signatures.map((signature, i) => {
    const verifierPem = Buffer.from(verifiers[Math.min(i, verifiers.length - 1)], 'base64').toString();
    const label = /BEGIN CERTIFICATE/.test(verifierPem) ? 'CERTIFICATE' : 'PUBLIC KEY';
    return {
      signature: signature.sig,
      verifier: Buffer.from(toPem(pemToDer(verifierPem), label)).toString('base64'),
    };
  }).sort((a, b) => (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0));
  return {
    apiVersion: proposed.apiVersion,
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(content.envelope).toString('hex') },
      payloadHash: {
        algorithm: 'sha256',
        value: sha256(Buffer.from(envelope.payload, 'base64')).toString('hex'),
      },
      signatures,
    },
  };
}

// Real Rekor stores a proposed "intoto" 0.0.2 entry without the envelope's payload (rekor
// pkg/types/intoto/v0.0.2, Canonicalize: the payload type, the signatures with their public keys,
// the envelope hash and the payload hash). The mock would log the proposal, payload included.
function canonicalIntotoEntry(proposed) {
  const content = proposed?.spec?.content;
  if (proposed?.kind !== 'intoto' || !content?.envelope) return proposed;
  return {
    apiVersion: proposed.apiVersion,
    kind: 'intoto',
    spec: {
      content: {
        envelope: { payloadType: content.envelope.payloadType, signatures: content.envelope.signatures },
        hash: content.hash,
        payloadHash: content.payloadHash,
      },
    },
  };
}

// Re-encodes the certificates of a Fulcio answer as standard PEM (the mock writes each on one line).
function normalizeFulcioResponse(text) {
  const body = JSON.parse(text);
  const chain = body?.signedCertificateEmbeddedSct?.chain;
  if (chain?.certificates) chain.certificates = chain.certificates.map((pem) => toPem(pemToDer(pem)));
  return JSON.stringify(body);
}

async function serveMock(instance, service, offsetSeconds, api, body) {
  if (service === 'fulcio' && api === '/api/v2/signingCert') {
    const ca = withClock(instance.ca, offsetSeconds);
    if (offsetSeconds) ca.ctLog = withClock(instance.ca.ctLog, offsetSeconds);
    const result = await fulcioHandler(ca).fn(body);
    if (result.statusCode === 201) result.response = normalizeFulcioResponse(result.response);
    return result;
  }
  if (service === 'rekor' && api === '/api/v1/log/entries') {
    let request = body;
    try {
      request = JSON.stringify(canonicalIntotoEntry(canonicalDsseEntry(JSON.parse(body))));
    } catch {
      // Left as sent: the mock answers 400 for a body that is not JSON.
    }
    return rekorHandler(withClock(instance.tlog, offsetSeconds, true)).fn(request);
  }
  if (service === 'rekor' && api === '/api/v2/log/entries') {
    let request;
    try {
      request = JSON.parse(body);
    } catch (e) {
      return { statusCode: 400, response: `the request is not JSON: ${e.message}` };
    }
    try {
      const entry = instance.v2log.add(request);
      return { statusCode: 201, contentType: 'application/json', response: JSON.stringify(entry) };
    } catch (e) {
      return { statusCode: 400, response: e.message };
    }
  }
  if (service === 'tsa' && api === '/api/v1/timestamp') {
    return tsaHandler(tsaWithClock(instance.tsa, offsetSeconds)).fn(body);
  }
  return { statusCode: 404, response: `no mock for ${service} ${api}` };
}

// ---------------------------------------------------------------------------------------------
// Signing.

// Returns cosign's Rekor bundle annotation (dev.sigstore.cosign/bundle) for the bundle's first
// transparency-log entry, or "" when it has no inclusion promise (pkg/cosign/bundle: RekorBundle).
function rekorBundleAnnotation(bundle) {
  const entry = bundle.verificationMaterial.tlogEntries?.[0];
  if (!entry?.inclusionPromise) return '';
  return JSON.stringify({
    SignedEntryTimestamp: Buffer.from(entry.inclusionPromise.signedEntryTimestamp).toString('base64'),
    Payload: {
      body: Buffer.from(entry.canonicalizedBody).toString('base64'),
      integratedTime: Number(entry.integratedTime),
      logIndex: Number(entry.logIndex),
      logID: Buffer.from(entry.logId.keyId).toString('hex'),
    },
  });
}

// Returns the cosign ".sig" layer annotations for a message-signature bundle, as cosign writes them
// (pkg/cosign/bundle: RekorBundle, RFC3161Timestamp; Go's encoding/json turns []byte into base64).
function cosignAnnotations(bundle, certificatePem, chainPem) {
  const annotations = {
    'dev.cosignproject.cosign/signature':
      Buffer.from(bundle.content.messageSignature.signature).toString('base64'),
    'dev.sigstore.cosign/certificate': certificatePem,
    'dev.sigstore.cosign/chain': chainPem,
  };
  const set = rekorBundleAnnotation(bundle);
  if (set) annotations['dev.sigstore.cosign/bundle'] = set;
  let timestamp = '';
  const signed = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps?.[0];
  if (signed) {
    timestamp = JSON.stringify({
      SignedRFC3161Timestamp: Buffer.from(signed.signedTimestamp).toString('base64'),
    });
    annotations['dev.sigstore.cosign/rfc3161timestamp'] = timestamp;
  }
  return { annotations, set, timestamp };
}

// The /sign request (JSON; every field but the payload is optional):
//   payload_base64      the bytes to sign (for a cosign ".sig": the simple-signing payload)
//   issuer              OIDC issuer, the JWT "iss" (default https://token.actions.githubusercontent.com)
//   subject             the JWT "sub", which the mock Fulcio writes as a URI SAN (default
//                       https://github.com/sigshim/test/.github/workflows/release.yml@refs/heads/main)
//   claims              further JWT claims; the mock Fulcio maps the GitHub Actions ones to the
//                       Fulcio extensions (repository, ref, sha, event_name, workflow, workflow_ref,
//                       workflow_sha, job_workflow_ref, job_workflow_sha, runner_environment,
//                       repository_id, repository_owner, repository_owner_id, repository_visibility,
//                       run_id + run_attempt)
//   fulcio, rekor, tsa  which instance issues/logs/timestamps: "main" (default) or "other";
//                       rekor and tsa may also be "none" (default: rekor "main", tsa "none")
//   rekor_version       1 (default) or 2
//   fulcio_offset_seconds, rekor_offset_seconds, tsa_offset_seconds   clock moves (default 0)
//   dsse_payload_type   when set, a DSSE bundle over the payload with that payload type (the
//                       cosign annotations are then not produced; "set" is, as cosign attest
//                       writes it on a ".att" layer)
//   rekor_entry_type    for a DSSE bundle, the Rekor v1 entry proposed: "dsse" (default, sigstore
//                       clients' choice) or "intoto" (0.0.2, what cosign attest logs)
// The answer: {"bundle": <bundle JSON>, "signature": base64, "certificate_pem", "chain_pem",
//   "set": cosign bundle annotation JSON or "", "timestamp": rfc3161timestamp annotation JSON or "",
//   "annotations": {cosign annotation name: value}}.
async function sign(instances, request) {
  if (typeof request.payload_base64 !== 'string') throw new Error('payload_base64 is required');
  const payload = Buffer.from(request.payload_base64, 'base64');
  const pick = (field, fallback, allowNone) => {
    const name = request[field] ?? fallback;
    if (allowNone && name === 'none') return null;
    if (!(name in instances)) throw new Error(`${field}: unknown instance "${name}"`);
    return instances[name];
  };
  const offset = (field) => {
    const value = request[field] ?? 0;
    if (!Number.isInteger(value)) throw new Error(`${field} must be an integer`);
    return value === 0 ? '' : `@${value}`;
  };
  const fulcio = pick('fulcio', 'main', false);
  const rekor = pick('rekor', 'main', true);
  const tsa = pick('tsa', 'none', true);
  const claims = {
    iss: request.issuer ?? 'https://token.actions.githubusercontent.com',
    sub: request.subject ?? 'https://github.com/sigshim/test/.github/workflows/release.yml@refs/heads/main',
    aud: 'sigstore',
    ...(request.claims || {}),
  };
  const token = unsignedJwt(claims);
  const origin = fulcio.origin;
  const fetchOptions = { retry: false, timeout: 30000 };
  const signer = new FulcioSigner({
    fulcioBaseURL: `${origin}/${fulcio.name}/fulcio${offset('fulcio_offset_seconds')}`,
    identityProvider: { getToken: async () => token },
    ...fetchOptions,
  });
  const witnesses = [];
  if (rekor) {
    const version = request.rekor_version ?? 1;
    if (version !== 1 && version !== 2) throw new Error('rekor_version must be 1 or 2');
    const entryType = request.rekor_entry_type ?? 'dsse';
    if (entryType !== 'dsse' && entryType !== 'intoto') throw new Error('rekor_entry_type must be dsse or intoto');
    witnesses.push(new RekorWitness({
      rekorBaseURL: `${origin}/${rekor.name}/rekor${offset('rekor_offset_seconds')}`,
      majorApiVersion: version,
      entryType,
      ...fetchOptions,
    }));
  }
  if (tsa) {
    witnesses.push(new TSAWitness({
      tsaBaseURL: `${origin}/${tsa.name}/tsa${offset('tsa_offset_seconds')}/api/v1/timestamp`,
      ...fetchOptions,
    }));
  }
  const dsse = typeof request.dsse_payload_type === 'string';
  const builder = dsse
    ? new DSSEBundleBuilder({ signer, witnesses })
    : new MessageSignatureBundleBuilder({ signer, witnesses });
  const bundle = await builder.create(dsse ? { data: payload, type: request.dsse_payload_type } : { data: payload });

  // sigstore-js writes the leaf as a one-certificate x509CertificateChain (bundle v0.2) or, in its
  // newer forms, as a single certificate (v0.3).
  const material = bundle.verificationMaterial.content;
  const leaf = material.$case === 'certificate'
    ? material.certificate.rawBytes
    : material.x509CertificateChain.certificates[0].rawBytes;
  const certificatePem = toPem(leaf);
  const chainPem = toPem(fulcio.ca.rootCertificate);
  const answer = {
    bundle: bundleToJSON(bundle),
    certificate_pem: certificatePem,
    chain_pem: chainPem,
    signature: '',
    set: '',
    timestamp: '',
    annotations: {},
  };
  if (dsse) {
    answer.signature = Buffer.from(bundle.content.dsseEnvelope.signatures[0].sig).toString('base64');
    answer.set = rekorBundleAnnotation(bundle);
  } else {
    const cosign = cosignAnnotations(bundle, certificatePem, chainPem);
    answer.signature = cosign.annotations['dev.cosignproject.cosign/signature'];
    answer.set = cosign.set;
    answer.timestamp = cosign.timestamp;
    answer.annotations = cosign.annotations;
  }
  return answer;
}

// ---------------------------------------------------------------------------------------------
// The server.

function readBody(req, limit = 16 << 20) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function reply(res, statusCode, contentType, body) {
  res.writeHead(statusCode, { 'Content-Type': contentType });
  res.end(body);
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  fs.mkdirSync(options.dir, { recursive: true });
  const instances = {};
  const MOCK_ROUTE = /^\/(main|other)\/(fulcio|rekor|tsa)(?:@(-?\d+))?(\/api\/.*)$/;

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://127.0.0.1');
      if (req.method === 'GET' && url.pathname === '/healthz') return reply(res, 200, 'text/plain', 'ok\n');
      if (req.method !== 'POST') return reply(res, 405, 'text/plain', 'POST only\n');
      const body = await readBody(req);
      if (url.pathname === '/sign') {
        let request;
        try {
          request = JSON.parse(body.toString());
        } catch (e) {
          return reply(res, 400, 'text/plain', `sign: the request is not JSON: ${e.message}\n`);
        }
        try {
          return reply(res, 200, 'application/json', JSON.stringify(await sign(instances, request)));
        } catch (e) {
          const cause = e.cause ? ` (${e.cause.message || e.cause})` : '';
          return reply(res, 400, 'text/plain', `sign: ${e.message}${cause}\n`);
        }
      }
      const route = MOCK_ROUTE.exec(url.pathname);
      if (!route) return reply(res, 404, 'text/plain', `no route ${url.pathname}\n`);
      const [, name, service, offset, api] = route;
      const result = await serveMock(instances[name], service, Number(offset || 0), api, body.toString());
      return reply(res, result.statusCode, result.contentType || 'text/plain', result.response);
    } catch (e) {
      return reply(res, 500, 'text/plain', `${e.stack || e}\n`);
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  for (const name of ['main', 'other']) {
    instances[name] = await createInstance(name, origin, options.backdateSeconds);
  }
  const files = {};
  for (const name of ['main', 'other']) {
    const file = path.join(options.dir, name === 'main' ? 'trusted_root.json' : 'other_trusted_root.json');
    fs.writeFileSync(file, `${JSON.stringify(trustedRoot(instances[name], options.mediaType), null, 2)}\n`);
    files[name] = file;
  }
  const ready = {
    url: origin,
    trusted_root: files.main,
    other_trusted_root: files.other,
    fulcio_url: `${origin}/main/fulcio`,
    rekor_url: `${origin}/main/rekor`,
    tsa_url: `${origin}/main/tsa/api/v1/timestamp`,
    pid: process.pid,
  };
  process.stdout.write(`SIGSTORE_MOCK_READY ${JSON.stringify(ready)}\n`);

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`mock_sigstore: ${e.stack || e}\n`);
  process.exit(1);
});
