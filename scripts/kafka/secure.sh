# shellcheck shell=bash
# The secured test broker (KAFKA_SECURE=1, `make kafka-up-secure`): sourced by
# up.sh after env.sh, never run. docs/security-kafka.md says why each setting.
#
# secure_init makes, in $KAFKA_DIR/secure (mode 700):
#   tls/ca.crt, tls/ca.key        a throw-away CA, valid for KAFKA_SECURE_DAYS
#   tls/broker.pem                the broker's key and certificate (SAN
#                                 IP:$KAFKA_HOST and DNS:localhost), signed by it
#   <principal>.password          one random SCRAM-SHA-512 password per
#                                 principal (mode 600)
# and client-<principal>.properties in $KAFKA_DIR for each principal: the file
# every binary takes with -kafka-config. Secrets go only into files of mode
# 600; nothing here prints one.

# The principals: admin (the broker's own inter-broker identity and a super
# user: it applies the ACLs) and one per service.
KAFKA_PRINCIPALS="admin gateway manager projection operator inventory"
KAFKA_SECURE_DAYS="${KAFKA_SECURE_DAYS:-30}"

secure_dir() { printf '%s/secure\n' "$KAFKA_DIR"; }

secure_password() { cat "$(secure_dir)/$1.password"; }

secure_init() {
  command -v openssl >/dev/null || die "the secured broker needs openssl to make its certificates (Debian/Ubuntu: apt-get install openssl)"
  local dir tls p
  dir="$(secure_dir)"
  tls="$dir/tls"
  (umask 077 && mkdir -p "$tls")
  # A fresh CA per cluster: nothing outside this directory trusts it, and it
  # dies with the directory. PKCS#8 keys (openssl 3's default): the broker's
  # PEM keystore reads them.
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$KAFKA_SECURE_DAYS" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" -subj "/CN=cartstream test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign >/dev/null 2>&1 \
    || die "openssl could not make the test CA"
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$tls/broker.key" -out "$tls/broker.csr" \
    -subj "/CN=cartstream-broker" >/dev/null 2>&1 || die "openssl could not make the broker's key"
  # Clients verify the broker's name (ssl.endpoint.identification.algorithm=https):
  # the certificate names the address they dial.
  printf 'subjectAltName=IP:%s,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' "$KAFKA_HOST" >"$tls/broker.ext"
  openssl x509 -req -sha256 -days "$KAFKA_SECURE_DAYS" -in "$tls/broker.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
    -CAcreateserial -out "$tls/broker.crt" -extfile "$tls/broker.ext" >/dev/null 2>&1 \
    || die "openssl could not sign the broker's certificate"
  cat "$tls/broker.key" "$tls/broker.crt" >"$tls/broker.pem"
  chmod 600 "$tls/broker.pem" "$tls/broker.key" "$tls/ca.key"
  for p in $KAFKA_PRINCIPALS; do
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/$p.password")
  done
}

# secure_server_props prints node $1's listener and security settings, in
# place of the plaintext ones up.sh writes otherwise.
secure_server_props() {
  local n="$1" tls
  tls="$(secure_dir)/tls"
  cat <<PROPS
listeners=SASL_SSL://$KAFKA_HOST:$(node_port "$n"),CONTROLLER://$KAFKA_HOST:$(node_controller_port "$n")
advertised.listeners=SASL_SSL://$KAFKA_HOST:$(node_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
# The controller listener stays plaintext on loopback: KRaft cannot
# authenticate it with SCRAM (the credentials live in the metadata log it
# serves), and its principal, ANONYMOUS, must then be a super user for the
# broker to register. docs/security-kafka.md, "The test broker".
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(secure_password admin)";
ssl.keystore.type=PEM
ssl.keystore.location=$tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.crt
ssl.endpoint.identification.algorithm=https
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:ANONYMOUS
PROPS
}

# secure_scram_args prints the storage tool's --add-scram arguments, one per
# line: every principal's credential is in the metadata log from the start,
# so the broker authenticates its own inter-broker connection (as admin) and
# no client waits for a user to be created.
secure_scram_args() {
  local p
  for p in $KAFKA_PRINCIPALS; do
    printf -- '--add-scram\nSCRAM-SHA-512=[name=%s,password=%s]\n' "$p" "$(secure_password "$p")"
  done
}

# secure_client_files writes client-<principal>.properties into KAFKA_DIR for
# the cluster at addresses $1 and prints their paths, one a line, on stderr.
secure_client_files() {
  local addrs="$1" p f
  for p in $KAFKA_PRINCIPALS; do
    f="$KAFKA_DIR/client-$p.properties"
    (umask 077 && cat >"$f" <<PROPS
# cartstream: the $p principal of the secured test broker in $KAFKA_DIR
# (scripts/kafka/up.sh). Pass it to a binary with -kafka-config.
bootstrap.servers=$addrs
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=$p
sasl.password=$(secure_password "$p")
ssl.ca.location=$(secure_dir)/tls/ca.crt
ssl.endpoint.identification.algorithm=https
PROPS
    )
    say "client properties for $p: $f"
  done
}
