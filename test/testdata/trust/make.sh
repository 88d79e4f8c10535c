#!/bin/sh
# Regenerates the private-PKI test material of test/pkg/trust (run from this folder; needs the
# openssl command). The files are committed: tests never run this. Validity: 100 years from generation (the TSA leaf: 10 years).
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ext="$tmp/ext.cnf"
cat > "$ext" <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[tsa_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
[plain_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
CNF
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/$1.key" 2>/dev/null; }
dates="-days 36500"
key root
openssl req -new -key "$tmp/root.key" -subj "/O=sigshim test/CN=TSA Root" -out "$tmp/root.csr"
openssl x509 -req -in "$tmp/root.csr" -signkey "$tmp/root.key" $dates -extfile "$ext" -extensions ca \
  -out tsa-root.pem 2>/dev/null
key inter
openssl req -new -key "$tmp/inter.key" -subj "/O=sigshim test/CN=TSA Intermediate" -out "$tmp/inter.csr"
openssl x509 -req -in "$tmp/inter.csr" -CA tsa-root.pem -CAkey "$tmp/root.key" -set_serial 2 $dates \
  -extfile "$ext" -extensions ca -out tsa-intermediate.pem 2>/dev/null
key leaf
openssl req -new -key "$tmp/leaf.key" -subj "/O=sigshim test/CN=TSA Leaf" -out "$tmp/leaf.csr"
openssl x509 -req -in "$tmp/leaf.csr" -CA tsa-intermediate.pem -CAkey "$tmp/inter.key" -set_serial 3 \
  -days 3650 -extfile "$ext" -extensions tsa_leaf -out tsa-leaf.pem 2>/dev/null
openssl x509 -req -in "$tmp/leaf.csr" -CA tsa-intermediate.pem -CAkey "$tmp/inter.key" -set_serial 4 $dates \
  -extfile "$ext" -extensions plain_leaf -out plain-leaf.pem 2>/dev/null
cat tsa-leaf.pem tsa-intermediate.pem tsa-root.pem > tsa-chain.pem
cat plain-leaf.pem tsa-intermediate.pem tsa-root.pem > tsa-chain-without-eku.pem
# Keys of every type a trusted root may name.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 2>/dev/null | openssl pkey -pubout -out p384.pub
openssl genpkey -algorithm ED25519 2>/dev/null | openssl pkey -pubout -out ed25519.pub
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout -out rsa2048.pub
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 2>/dev/null | openssl pkey -pubout -out rsa3072.pub
rm -f tsa-leaf.pem plain-leaf.pem
