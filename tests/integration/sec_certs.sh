#!/usr/bin/env bash
# sec_certs.sh DIR - throw-away certificates for it_security (openssl):
#   ca.crt/ca.key          the test CA
#   server.crt/server.key  signed by it, for DNS:localhost only (so 127.0.0.1 is a wrong host name)
#   client.crt/client.key  a client certificate signed by the CA (mutual TLS)
#   other_ca.crt           an unrelated CA, to be the wrong one
# Keys are RSA 2048, valid 7 days; the key files are mode 600.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
q() { "$@" >/dev/null 2>&1 || { echo "sec_certs: failed: $*" >&2; exit 1; }; }

q openssl req -x509 -new -nodes -newkey rsa:2048 -days 7 -subj /CN=cdc-test-ca \
  -keyout ca.key -out ca.crt
q openssl req -x509 -new -nodes -newkey rsa:2048 -days 7 -subj /CN=cdc-other-ca \
  -keyout other_ca.key -out other_ca.crt

printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
q openssl req -new -nodes -newkey rsa:2048 -subj /CN=localhost -keyout server.key -out server.csr
q openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 \
  -extfile server.ext -out server.crt

printf 'extendedKeyUsage=clientAuth\n' >client.ext
q openssl req -new -nodes -newkey rsa:2048 -subj /CN=cdc-handler -keyout client.key -out client.csr
q openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 \
  -extfile client.ext -out client.crt

chmod 600 ./*.key
rm -f ./*.csr ./*.ext ./*.srl
