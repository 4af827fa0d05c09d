"""deploy/kubernetes: the manifests parse, name the image deploy/Dockerfile
builds and a command line ``twistd dlmssim`` accepts, and their shards
cover every meter of the ConfigMap's lab.ini exactly once, as
deploy/kubernetes/README.md says (20 pods of 4 gateways and 50,000 meters)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import dlmstw
from dlmstw import tap
from dlmstw.config import parse_lab, with_overrides

REPO = Path(__file__).resolve().parent.parent
KUBERNETES = REPO / "deploy" / "kubernetes"
IMAGE = f"dlmstw:{dlmstw.__version__}"
METERS, PODS, GATEWAYS_PER_POD, FIRST_GATEWAY = 1_000_000, 20, 4, 4061


def manifests() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            assert document["kind"] not in found, f"two {document['kind']} manifests"
            # The API's own schemas; 1.28 is the first release with the pod-index label.
            kubernetes_validate.validate(document, "1.28", strict=True)
            found[document["kind"]] = document
    assert set(found) == {"StatefulSet", "Service", "ConfigMap"}
    return found


def container(statefulset: dict[str, Any]) -> dict[str, Any]:
    (only,) = statefulset["spec"]["template"]["spec"]["containers"]
    return only


def test_the_manifests_name_the_image_and_a_command_line_twistd_accepts(tmp_path: Path) -> None:
    found = manifests()
    statefulset, service, configmap = found["StatefulSet"], found["Service"], found["ConfigMap"]
    main = container(statefulset)
    assert main["image"] == IMAGE
    assert f"-t {IMAGE} ." in (REPO / "deploy" / "Dockerfile").read_text()
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert statefulset["spec"]["selector"]["matchLabels"] == labels == service["spec"]["selector"]
    assert service["spec"]["clusterIP"] == "None" and statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    env = {item["name"]: item for item in main["env"]}
    assert env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['apps.kubernetes.io/pod-index']"
    assert env["SHARDS"]["value"] == str(statefulset["spec"]["replicas"])
    (volume,) = [v for v in statefulset["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    (mount,) = [m for m in main["volumeMounts"] if m["name"] == volume["name"]]
    # The command line of pod 3, as Kubernetes expands $(VAR), read by twistd's own options.
    assert main["command"] == ["twistd"]
    argv = [re.sub(r"\$\((\w+)\)", lambda m: {"POD_INDEX": "3", "SHARDS": env["SHARDS"]["value"]}[m[1]], arg)
            for arg in main["args"]]
    assert argv[:3] == ["-n", "--pidfile=", "dlmssim"]
    ini = tmp_path / "lab.ini"
    ini.write_text(configmap["data"]["lab.ini"])
    options = tap.Options()
    options.parseOptions([str(ini) if arg == f"{mount['mountPath']}/lab.ini" else arg for arg in argv[3:]])
    assert options.lab.simulator.shard == (3, PODS) and options.workers == 1


def test_the_shards_cover_every_meter_once() -> None:
    found = manifests()
    lab = parse_lab(found["ConfigMap"]["data"]["lab.ini"])
    pods = found["StatefulSet"]["spec"]["replicas"]
    assert pods == PODS and sum(group.count for group in lab.groups) == METERS
    shards = [with_overrides(lab, {"shard": f"{pod}/{pods}"}) for pod in range(pods)]
    for group in lab.groups:
        served = sorted(index for shard in shards for index in shard.served(group))
        assert served == list(range(group.count)), group.name
    for pod, shard in enumerate(shards):
        gateways = sorted(group.gateway for group in shard.groups if shard.served(group))  # type: ignore[type-var]
        assert len(gateways) == GATEWAYS_PER_POD and gateways[0] == FIRST_GATEWAY + pod
        assert sum(len(shard.served(group)) for group in shard.groups) == METERS // PODS
    probe = " ".join(container(found["StatefulSet"])["readinessProbe"]["exec"]["command"])
    assert f"{FIRST_GATEWAY} + int(os.environ['POD_INDEX'])" in probe


@pytest.mark.parametrize("meter, pod, port, physical", [(0, 0, 4061, 16), (12_499, 0, 4061, 12_515),
                                                         (12_500, 1, 4062, 16), (999_999, 19, 4140, 12_515),
                                                         (262_144, 0, 4081, 16 + 12_144)])
def test_the_readme_arithmetic_finds_a_meter(meter: int, pod: int, port: int, physical: int) -> None:
    """deploy/kubernetes/README.md: meter m is in group m // 12,500, on pod group % 20, port 4061 + group."""
    lab = with_overrides(parse_lab(manifests()["ConfigMap"]["data"]["lab.ini"]), {"shard": f"{pod}/{PODS}"})
    group = lab.groups[meter // 12_500]
    index = meter % 12_500
    assert index in lab.served(group) and group.gateway == port and group.physical_address + index == physical
    before = sum(len(lab.served(other)) for other in lab.groups[:meter // 12_500])
    (config,) = lab.meters(groups={group.name}, hosted=lambda position: position == before + index)
    assert config.serial == 1_000_001 + meter and config.port == port
