#!/usr/bin/env bash
# Generates TLS certificates for tests into DIR (default: a new temp dir,
# printed on stdout). Made fresh at test time; never committed.
#   ca.pem / ca.key            a test root CA
#   server.pem / server.key    for 127.0.0.1 and localhost, signed by the CA
#   wronghost.pem / .key       signed by the CA, valid only for wrong.example
#   expired.pem / .key         signed by the CA, for 127.0.0.1, expired in 2020
#   selfsigned.pem / .key      self-signed, for 127.0.0.1
set -euo pipefail
dir="${1:-$(mktemp -d)}"
mkdir -p "$dir"
cd "$dir"

quiet() { "$@" >/dev/null 2>&1 || { echo "gen-test-certs: failed: $*" >&2; "$@"; exit 1; }; }

quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=setlist test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"

leaf() {  # name san
  quiet openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" >"$1.ext"
}

leaf server "IP:127.0.0.1,DNS:localhost"
quiet openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext

leaf wronghost "DNS:wrong.example"
quiet openssl x509 -req -in wronghost.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out wronghost.pem -days 2 \
  -extfile wronghost.ext

# Expired: `openssl ca` takes explicit start and end dates.
leaf expired "IP:127.0.0.1,DNS:localhost"
mkdir -p ca-db && : >ca-db/index.txt && echo 1000 >ca-db/serial
cat >ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = anything
copy_extensions = none
[anything]
commonName = supplied
CNF
quiet openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200102000000Z -extfile expired.ext -notext

quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout selfsigned.key -out selfsigned.pem -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost"

rm -f ./*.csr ./*.ext ca.srl ca.cnf && rm -rf ca-db
chmod 600 ./*.key
echo "$dir"
