"""TLS: certificates verified by default, --ca-bundle to trust a private CA, --insecure."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from llmbench_async.mock import MockConfig, MockProcess


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost, made here and now."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llmbench-async test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MockProcess, Path]]:
    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    cfg = MockConfig(ttft_ms=0, itl_ms=0, tokens=3, tls_cert=str(cert), tls_key=str(key))
    with MockProcess(cfg) as mock:
        yield mock, cert


def test_unknown_certificate_fails_by_default(tls_mock: tuple[MockProcess, Path]) -> None:
    mock, _cert = tls_mock
    assert mock.base_url.startswith("https://")
    res = run_cli("--base-url", mock.base_url, "-n", "2")
    assert res.code == 3
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "certificate verify failed for host 127.0.0.1" in lines[0]
    assert "use --ca-bundle or --insecure" in lines[0]


def test_ca_bundle_makes_it_work(tls_mock: tuple[MockProcess, Path]) -> None:
    mock, cert = tls_mock
    res = run_cli("--base-url", mock.base_url, "-n", "3", "--ca-bundle", str(cert))
    assert res.code == 0, res.stderr
    assert "3 ok, 0 failed" in res.stdout
    assert "NOT VERIFIED" not in res.stdout


def test_insecure_is_explicit(tls_mock: tuple[MockProcess, Path]) -> None:
    mock, _cert = tls_mock
    res = run_cli("--base-url", mock.base_url, "-n", "2", "--insecure")
    assert res.code == 0, res.stderr
    assert "TLS NOT VERIFIED (--insecure)" in res.stdout


def test_tls_failure_with_a_given_model(tls_mock: tuple[MockProcess, Path]) -> None:
    mock, _cert = tls_mock
    res = run_cli("--base-url", mock.base_url, "-n", "4", "--model", "mock-model")
    assert res.code == 3
    assert "certificate verify failed" in res.stderr
    assert "use --ca-bundle or --insecure" in res.stderr


def test_tls_phase_is_measured_apart_from_tcp(
    tls_mock: tuple[MockProcess, Path], tmp_path: Path
) -> None:
    import json

    mock, cert = tls_mock
    for preconnect in ("--preconnect", "--no-preconnect"):
        out, doc = tmp_path / f"r{preconnect}.jsonl", tmp_path / f"s{preconnect}.json"
        res = run_cli(
            "--base-url", mock.base_url, "--model", "mock-model", "-n", "3", "-c", "1",
            "--ca-bundle", str(cert), preconnect, "-o", str(out), "--json", str(doc),
        )  # fmt: skip
        assert res.code == 0, res.stderr
        records = [json.loads(x) for x in out.read_text().splitlines()[1:-1]]
        first = [r for r in records if r["tls_ns"] is not None]
        # one connection, its phases on the first request to use it
        assert len(first) == 1 and first[0]["tcp_ns"] is not None
        assert first[0]["tls_ns"] > 0 and first[0]["dns_ns"] is not None
        assert first[0].get("preconnected", False) is (preconnect == "--preconnect")
        phases = json.loads(doc.read_text())["phases"]
        kind = "preconnected" if preconnect == "--preconnect" else "new"
        assert phases[kind]["tls_ms"]["count"] == 1
        assert phases[kind]["tls_ms"]["mean"] == first[0]["tls_ns"] / 1e6
