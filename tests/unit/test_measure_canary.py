import base64
import gzip

from bench.measure.canary import _found_in, scan
from bench.traffic.canary import new_canary


def test_scan_finds_plain_and_base64_canaries_and_names_only_the_file(tmp_path):
    plain, encoded, absent = new_canary(), new_canary(), new_canary()
    log = tmp_path / "audit.log"
    log.write_text('{"requestObject":{"stringData":{"p":"%s"}}}\n' % plain)
    gz = tmp_path / "audit-2026.log.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write('{"responseObject":{"data":{"p":"%s"}}}\n' % base64.b64encode(encoded.encode()).decode())
    clean = tmp_path / "clean.log"
    clean.write_text('{"level":"Metadata"}\n')
    out = scan([plain, encoded, absent], [log, gz, clean, tmp_path / "missing.log"])
    assert out["checked"] == 3
    assert out["leaked"] == ["audit.log: 1 canary value(s) found", "audit-2026.log.gz: 1 canary value(s) found"]
    assert all(c not in " ".join(out["leaked"]) for c in (plain, encoded))


def test_a_canary_across_a_chunk_boundary_is_found(tmp_path):
    canary = new_canary()
    path = tmp_path / "audit.log"
    path.write_bytes(b"x" * 1000 + canary.encode() + b"y" * 1000)
    for chunk in (1010, 1017, 1030):  # cuts inside the canary
        assert _found_in(path, {canary}, chunk=chunk) == {canary}
