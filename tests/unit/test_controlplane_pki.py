import ssl
import stat

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from bench.controlplane import pki


def test_serving_cert_is_signed_by_ca_and_has_loopback_sans(tmp_path):
    ca = pki.make_ca()
    leaf = pki.issue(ca, "kube-apiserver", dns=("localhost",), ips=("127.0.0.1", "::1"), server=True)
    leaf.cert.verify_directly_issued_by(ca.cert)
    sans = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(i) for i in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    eku = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku and ExtendedKeyUsageOID.CLIENT_AUTH not in eku
    assert not leaf.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_written_keys_are_private_and_load_into_ssl(tmp_path):
    ca = pki.make_ca()
    leaf = pki.issue(ca, "server", ips=("127.0.0.1",), server=True)
    crt, key = pki.write_pair(tmp_path, "server", leaf)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)  # raises if the PEMs do not match


def test_service_account_key_pair_is_ec_p256():
    key = pki.new_key()
    assert isinstance(key.curve, ec.SECP256R1)
    assert b"BEGIN PUBLIC KEY" in pki.public_pem(key)
    assert b"BEGIN PRIVATE KEY" in pki.key_pem(key)
