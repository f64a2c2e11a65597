"""Generating the control-plane module for another Kubernetes release (pure parts)."""

from __future__ import annotations

import pytest

from bench.controlplane.build import source_dir
from bench.controlplane.releases import check_version, go_directive, ldflags, module_text, staging_modules
from bench.errors import InputError

# The shape of k8s.io/kubernetes's go.mod: a replace block of ./staging paths, plus a
# replace that is not staging (which must not be pinned).
GOMOD = """module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
\tk8s.io/api v0.0.0
\tgithub.com/foo/bar v1.2.3
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apiserver => ./staging/src/k8s.io/apiserver
\tk8s.io/externaljwt => ./staging/src/k8s.io/externaljwt
\tgithub.com/foo/bar => github.com/foo/bar v1.2.4
)

replace k8s.io/kms => ./staging/src/k8s.io/kms
"""


def test_staging_modules_come_from_the_releases_replace_lines() -> None:
    assert staging_modules(GOMOD) == ["k8s.io/api", "k8s.io/apiserver", "k8s.io/externaljwt", "k8s.io/kms"]
    assert go_directive(GOMOD) == "1.24.0"


def test_the_committed_module_pins_exactly_the_pinned_releases_staging_list() -> None:
    # The committed controlplane/go.mod was written by hand for v1.37.2: every module it pins
    # is k8s.io/<name> => k8s.io/<name> v0.37.2, the form module_text generates.
    committed = (source_dir() / "go.mod").read_text()
    pinned = sorted(line.split("=>")[0].strip() for line in committed.splitlines() if "=> k8s.io/" in line)
    text = module_text("v1.37.2", pinned, "1.26.0")
    for mod in pinned:
        assert f"\t{mod} => {mod} v0.37.2" in text and f"\t{mod} => {mod} v0.37.2" in committed
    assert "\tk8s.io/kubernetes v1.37.2" in text and "go 1.26.0" in text


def test_module_text_for_another_release() -> None:
    text = module_text("v1.34.4", ["k8s.io/api", "k8s.io/kms"], "1.24.0")
    assert "module auditbench/controlplane-v1.34.4" in text
    assert "\tk8s.io/api => k8s.io/api v0.34.4" in text and "\tk8s.io/component-base v0.34.4" in text
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.4" in ldflags("v1.34.4")
    assert "gitMinor=34" in ldflags("v1.34.4")


@pytest.mark.parametrize("bad", ["1.36.3", "v1.36", "v1.36.3-rc.0", "v2.0.0", "v1.29.9", "latest"])
def test_bad_versions_name_the_option(bad: str) -> None:
    with pytest.raises(InputError) as exc:
        check_version(bad)
    assert exc.value.line().startswith("--kubernetes") or "--kubernetes" in exc.value.line()


def test_a_kubernetes_axis_multiplies_variants_and_baselines() -> None:
    from bench.scenario.loader import parse_scenario
    from bench.scenario.matrix import expand

    doc = {"name": "k", "policies": ["metadata-all"], "audit": {"log": {"enabled": [True]}},
           "traffic": {"profiles": ["mixed"], "users": 2, "duration": "5s"}, "kubernetes": ["v1.36.3", "v1.37.2"]}
    ids = {v.id: v for v in expand(parse_scenario(doc))}
    assert set(ids) == {"metadata-all.log.mixed.k8s-v1.36.3", "metadata-all.log.mixed.k8s-v1.37.2",
                        "baseline.mixed.k8s-v1.36.3", "baseline.mixed.k8s-v1.37.2"}
    assert ids["baseline.mixed.k8s-v1.36.3"].kubernetes == "v1.36.3"
    with pytest.raises(InputError, match="kubernetes"):
        parse_scenario({**doc, "kubernetes": ["v1.36"]})


def test_an_unbuilt_release_is_refused_with_the_build_command(tmp_path, monkeypatch) -> None:
    from bench.controlplane.releases import resolve_release
    from bench.errors import EnvironmentProblem

    monkeypatch.setenv("AUDITBENCH_CACHE_DIR", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match="controlplane build --kubernetes v1.35.4"):
        resolve_release("v1.35.4")
