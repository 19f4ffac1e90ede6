#!/usr/bin/env bash
# setup.sh STATE BIN prepares the local HA topology's state directory:
# two CAs (one for etcd, one for certbind's processes) and a certificate
# for every member and process, the master key, the admin and service
# keys, and STATE/env, which procrun adds to every process of the Procfile.
# What already exists is kept, so a second `make ha` reuses the cluster's
# data and keys.
set -euo pipefail
state=${1:?usage: setup.sh STATE BIN}
bin=${2:?usage: setup.sh STATE BIN}
umask 077
mkdir -p "$state/tls" "$state/run"
chmod 700 "$state"
tls=$state/tls

ca() { # ca NAME CN
  [ -f "$tls/$1.pem" ] && return
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -keyout "$tls/$1.key" -out "$tls/$1.pem" -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() { # leaf CA NAME USAGE: a loopback certificate signed by CA
  [ -f "$tls/$2.pem" ] && return
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tls/$2.key" -out "$tls/$2.csr" -subj "/CN=$2" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=%s\nkeyUsage=critical,digitalSignature\n' "$3" > "$tls/$2.ext"
  openssl x509 -req -in "$tls/$2.csr" -CA "$tls/$1.pem" -CAkey "$tls/$1.key" -CAcreateserial \
    -days 365 -extfile "$tls/$2.ext" -out "$tls/$2.pem" 2>/dev/null
  rm -f "$tls/$2.csr" "$tls/$2.ext"
}
ca etcd-ca "certbind HA etcd CA"
for m in etcd1 etcd2 etcd3; do leaf etcd-ca "$m" serverAuth,clientAuth; done
leaf etcd-ca etcd-client clientAuth
ca ca "certbind HA CA"
for p in certmgr1 certmgr2 deploytracker1 deploytracker2 restapi edge1 edge2; do
  leaf ca "$p" serverAuth,clientAuth
done

[ -f "$state/master.key" ] || "$bin/certmgr" --init-master-key --master-key-file "$state/master.key" >/dev/null
for k in admin service; do
  [ -f "$state/$k.key" ] || openssl rand -hex 32 > "$state/$k.key"
done

# Every client of the control plane is given both replicas, comma-separated,
# and fails over between them.
certmgrs=127.0.0.1:19090,127.0.0.1:29090
trackers=127.0.0.1:19091,127.0.0.1:29091
cat > "$state/addrs.env" <<ADDRS
EDGE_CERTMGR=$certmgrs
EDGE_DEPLOYTRACKER=$trackers
REST_CERTMGR=$certmgrs
REST_DEPLOYTRACKER=$trackers
DEPLOYTRACKER_CERTMGR=$certmgrs
CERTMGR_DEPLOYTRACKER=$trackers
ADDRS

cat > "$state/env" <<ENV
# Written by deploy/ha/setup.sh; procrun adds it to every process.
HA=$state
BIN=$bin
CERTBIND_ADMIN_KEY=$(cat "$state/admin.key")
CERTBIND_SERVICE_KEY=$(cat "$state/service.key")
CERTBIND_EDGE_KEY=$(cat "$state/admin.key")
HA_ETCD_CLUSTER=m1=https://127.0.0.1:12380,m2=https://127.0.0.1:22380,m3=https://127.0.0.1:32380
STORE=--store etcd --etcd-endpoints https://127.0.0.1:12379,https://127.0.0.1:22379,https://127.0.0.1:32379 --etcd-ca $tls/etcd-ca.pem --etcd-cert $tls/etcd-client.pem --etcd-key $tls/etcd-client.key
PEER_CA=$tls/ca.pem
$(cat "$state/addrs.env")
ENV
echo "setup: state in $state (keys, certificates, env); admin key in $state/admin.key"
