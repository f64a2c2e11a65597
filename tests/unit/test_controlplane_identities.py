import csv
import io
import json
import stat

from bench.controlplane.identities import IDENTITIES, read_identities_json, token_file_text, with_tokens, write_identities_json, write_token_file


def test_token_file_is_apiserver_csv_with_groups():
    ids = with_tokens()
    rows = list(csv.reader(io.StringIO(token_file_text(ids))))
    assert len(rows) == len(IDENTITIES)
    by_user = {r[1]: r for r in rows}
    assert by_user["auditbench-admin"][3] == "system:masters"
    assert by_user["system:serviceaccount:ci:deploy-bot"][3] == "system:serviceaccounts,system:serviceaccounts:ci"
    assert all(len(r) == 4 and len(r[0]) >= 24 for r in rows)


def test_tokens_are_unique_and_fresh_per_cluster():
    a, b = with_tokens(), with_tokens()
    assert len({i.token for i in a}) == len(a)
    assert not {i.token for i in a} & {i.token for i in b}


def test_credential_files_are_0600_and_round_trip(tmp_path):
    ids = with_tokens()
    tok = write_token_file(tmp_path / "tokens.csv", ids)
    js = write_identities_json(tmp_path / "ids.json", ids)
    for p in (tok, js):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    back = read_identities_json(js)
    assert back["alice"].token == next(i.token for i in ids if i.name == "alice")
    assert json.loads(js.read_text())["bob"]["groups"] == ["developers"]


def test_identities_cover_humans_and_service_accounts():
    humans = [i for i in IDENTITIES if not i.user.startswith("system:")]
    sas = [i for i in IDENTITIES if i.is_service_account]
    assert len(humans) >= 2 and len(sas) >= 2
