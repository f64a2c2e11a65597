from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import InputError
from bench.traffic.catalog import CLASSES
from bench.traffic.profiles import load_profile, load_profiles

REQUIRED = {"mixed", "read-heavy", "write-heavy", "security", "noisy"}


def test_shipped_profiles_load_and_use_known_classes() -> None:
    profiles = load_profiles().profiles
    assert REQUIRED <= set(profiles)
    for profile in profiles.values():
        assert set(profile.classes) <= set(CLASSES)
        if profile.kubelet is not None:  # simulated nodes send on kubelet's schedule, not by weight
            assert not profile.classes and profile.kubelet.nodes >= 1
            continue
        assert abs(sum(profile.shares().values()) - 1.0) < 1e-9


def test_security_profile_covers_the_articles_categories() -> None:
    classes = set(load_profile("security").classes)
    for needed in ("secrets.get", "clusterrolebindings.create", "pods.exec", "pods.attach", "pods.portforward",
                   "serviceaccounts.token", "tokenreviews.create", "subjectaccessreviews.create",
                   "namespaces.create", "namespaces.delete", "nodes.create", "nodes.patch", "nodes.delete"):
        assert needed in classes


def test_noisy_profile_is_only_noisy_resources() -> None:
    for name in load_profile("noisy").classes:
        assert name.split(".")[0] in {"events", "endpoints", "health", "leases"}


def test_identity_and_namespace_defaults_and_overrides() -> None:
    security = load_profile("security")
    assert security.identity("secrets.get") == "bob"  # catalog default
    assert security.namespace_roles("pods.exec") == ("production", "team-a")  # profile override
    assert security.namespace_roles("pods.attach") == ("production",)
    # classes outside the profile (a create that a delete needs) fall back to the catalog
    assert security.identity("leases.create") == CLASSES["leases.create"].identity


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "profiles.yaml"
    path.write_text(body)
    return path


_GOOD = """version: 1
profiles:
  p:
    description: test
    classes:
      secrets.get: 3
      pods.exec: {weight: 1, as: alice, namespaces: [team-b]}
"""


def test_shorthand_and_full_entries(tmp_path: Path) -> None:
    profile = load_profile("p", _write(tmp_path, _GOOD))
    assert profile.classes["secrets.get"].weight == 3
    assert profile.identity("pods.exec") == "alice"
    assert profile.namespace_roles("pods.exec") == ("team-b",)


@pytest.mark.parametrize(("body", "field", "reason"), [
    (_GOOD.replace("secrets.get: 3", "secrets.steal: 3"), "profiles.p.classes['secrets.steal']", "unknown request class 'secrets.steal'"),
    (_GOOD.replace("as: alice", "as: mallory"), "profiles.p.classes['pods.exec'].as", "unknown identity 'mallory'"),
    (_GOOD.replace("secrets.get: 3", "secrets.get: -1"), "profiles.p.classes['secrets.get'].weight", "greater than 0"),
    (_GOOD.replace("secrets.get: 3", "secrets.get: 0"), "profiles.p.classes['secrets.get'].weight", "greater than 0"),
    (_GOOD.replace("namespaces: [team-b]", "namespaces: [staging]"), "profiles.p.classes['pods.exec'].namespaces",
     "unknown namespace role"),
    (_GOOD.replace("    description: test\n", "    description: test\n    colour: red\n"), "profiles.p.colour",
     "Extra inputs are not permitted"),
    (_GOOD.replace("version: 1", "version: 2"), "version", "less than or equal to 1"),
    (_GOOD.replace("    description: test\n", ""), "profiles.p.description", "Field required"),
    (_GOOD.replace("    description: test\n", "    description: test\n    watch_timeout_s: 0\n"),
     "profiles.p.watch_timeout_s", "greater than or equal to 1"),
    (_GOOD + "      nodes.create: {weight: 1, namespaces: [production]}\n", "profiles.p.classes",
     "nodes.create is cluster-scoped"),
    (_GOOD.replace("secrets.get: 3", "secrets.get: three"), "profiles.p.classes['secrets.get']",
     "valid dictionary"),
])
def test_bad_profiles_name_file_and_field(tmp_path: Path, body: str, field: str, reason: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(InputError) as err:
        load_profiles(path)
    assert err.value.where == str(path)
    assert err.value.field == field
    assert reason in err.value.reason


def test_duplicate_keys_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, _GOOD + "      secrets.get: 4\n")
    with pytest.raises(InputError, match="duplicate key 'secrets.get'"):
        load_profiles(path)


def test_missing_profile_and_file(tmp_path: Path) -> None:
    path = _write(tmp_path, _GOOD)
    with pytest.raises(InputError, match="no profile named 'nope'"):
        load_profile("nope", path)
    with pytest.raises(InputError, match="cannot read"):
        load_profiles(tmp_path / "absent.yaml")
    with pytest.raises(InputError, match="invalid YAML"):
        load_profiles(_write(tmp_path, "profiles: [\n"))
