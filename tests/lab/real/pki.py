"""A self-signed CA, the API server's serving and kubelet-client certificates, the node's serving certificate (issued
by the node agent for its bridge address) and the service-account key pair."""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _issue(ca_key, ca_name, not_before, not_after, subject, usage, san=None):
    """A new key and its certificate signed by the CA, for ``usage`` (server or client authentication)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               # Python 3.13's default VERIFY_X509_STRICT wants the key identifiers.
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def issue_node_certificate(directory: str, node: str, address: str) -> dict:
    """The node's serving certificate (name ``node``, IP ``address``), signed by the CA in ``directory``; the paths
    of node.crt and node.key."""
    with open(os.path.join(directory, "ca.key"), "rb") as handle:
        ca_key = serialization.load_pem_private_key(handle.read(), password=None)
    with open(os.path.join(directory, "ca.crt"), "rb") as handle:
        ca_name = x509.load_pem_x509_certificate(handle.read()).subject
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    key, cert = _issue(ca_key, ca_name, now, now + datetime.timedelta(days=30),
                       x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "system:node:%s" % node)]), ExtendedKeyUsageOID.SERVER_AUTH,
                       [x509.DNSName(node), x509.IPAddress(ipaddress.ip_address(address))])
    paths = {"node.crt": os.path.join(directory, "node.crt"), "node.key": os.path.join(directory, "node.key")}
    _write(paths["node.crt"], cert.public_bytes(serialization.Encoding.PEM))
    _write(paths["node.key"], _key_pem(key))
    return paths


def generate(directory: str, service_ip: str = "10.96.0.1") -> dict:
    """Write ca.crt/ca.key, apiserver.crt/.key, apiserver-kubelet-client.crt/.key, sa.key/sa.pub into ``directory``;
    return their paths."""
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    later = now + datetime.timedelta(days=30)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "progressive-delivery-lab-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(later)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", service_ip)]
    key, cert = _issue(ca_key, ca_name, now, later, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
                       ExtendedKeyUsageOID.SERVER_AUTH, san)
    # what the API server shows the kubelet when it reads a pod's log (--kubelet-client-certificate)
    client_key, client_cert = _issue(ca_key, ca_name, now, later, x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
        x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver-kubelet-client")]), ExtendedKeyUsageOID.CLIENT_AUTH)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    paths = {name: os.path.join(directory, name) for name in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "sa.key", "sa.pub",
                                                              "apiserver-kubelet-client.crt", "apiserver-kubelet-client.key")}
    _write(paths["ca.crt"], ca.public_bytes(serialization.Encoding.PEM))
    _write(paths["ca.key"], _key_pem(ca_key))
    _write(paths["apiserver.crt"], cert.public_bytes(serialization.Encoding.PEM))
    _write(paths["apiserver.key"], _key_pem(key))
    _write(paths["apiserver-kubelet-client.crt"], client_cert.public_bytes(serialization.Encoding.PEM))
    _write(paths["apiserver-kubelet-client.key"], _key_pem(client_key))
    _write(paths["sa.key"], _key_pem(sa_key))
    _write(paths["sa.pub"], sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return paths
