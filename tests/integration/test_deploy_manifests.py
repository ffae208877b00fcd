"""The deployment files, checked offline: every kustomization renders with the real
kubectl and every object validates against the Kubernetes schemas (strict: a
misspelled field fails); every container command line in the manifests and the
compose file is one the real CLI accepts; probes, limits, edge placement and TLS are
as deploy/README.md says."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from edgeoffload.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = ["base", "overlays/edge", "overlays/tls"]
#: The Kubernetes version the manifests are checked against (kubectl 1.32 here).
VERSION = "1.32.0"
#: Values a cluster substitutes for $(VAR) in container args (Kubernetes expands them).
ENV_VALUES = {"POD_NAME": "edgeoffload-node-7d9f-x2k4q", "POD_IP": "10.1.2.3",
              "NODE_NAME": "edge-box-1", "SITE": "edge"}  # fmt: skip

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (kustomize) is not installed"
)


def render(kustomization: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / kustomization)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def containers(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (d["metadata"]["name"], c)
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]


def parse(argv: list[str]) -> Any:
    """The real CLI's parse of a container's args (after $(VAR) expansion)."""
    expanded = [re.sub(r"\$\((\w+)\)", lambda m: ENV_VALUES[m.group(1)], a) for a in argv]
    parser, _ = build_parser()
    return parser.parse_args(expanded)


def flags(argv: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in argv if a.startswith("--")]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_object_renders_and_validates_strictly(kustomization: str) -> None:
    docs = render(kustomization)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "NetworkPolicy", "PersistentVolumeClaim", "Namespace"} <= kinds  # fmt: skip
    for doc in docs:
        kubernetes_validate.validate(doc, VERSION, strict=True)


def test_the_validator_catches_a_misspelled_field() -> None:
    deployment = next(d for d in render("base") if d["kind"] == "Deployment")
    port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    port["containerPrt"] = port.pop("containerPort")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSION, strict=True)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_container_command_line_is_accepted_by_the_cli(kustomization: str) -> None:
    for name, container in containers(render(kustomization)):
        argv = container["args"]
        args = parse(argv)
        assert args.command in {"node", "controller"}, name
        assert len(set(flags(argv))) == len(flags(argv)), f"{name}: a flag given twice: {argv}"
        assert args.host == "0.0.0.0" and args.auth_secret_file, name


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_probes_and_resources_on_every_container(kustomization: str) -> None:
    for name, c in containers(render(kustomization)):
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"], name
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
    node = dict(containers(render(kustomization)))["edgeoffload-node"]
    assert node["resources"]["limits"]["cpu"] == "100m"  # one node at 0.1 CPU


def test_the_edge_overlay_places_nodes_on_kubeedge_or_openyurt_machines() -> None:
    docs = render("overlays/edge")
    node = next(d for d in docs if d["metadata"]["name"] == "edgeoffload-node"
                and d["kind"] == "Deployment")  # fmt: skip
    spec = node["spec"]["template"]["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    keys = {e["key"] for t in terms["nodeSelectorTerms"] for e in t["matchExpressions"]}
    assert keys == {"node-role.kubernetes.io/edge", "openyurt.io/is-edge-worker"}
    tolerated = {(t["key"], t.get("tolerationSeconds")) for t in spec["tolerations"]}
    assert ("node.kubernetes.io/unreachable", 3600) in tolerated  # a partition is no crash
    assert node["spec"]["template"]["metadata"]["labels"]["edgeoffload/site"] == "edge"
    args = parse(spec["containers"][0]["args"])
    assert dict(args.labels) == {"k8s-node": "edge-box-1", "site": "edge"}
    controller = next(d for d in docs if d["metadata"]["name"] == "edgeoffload-controller"
                      and d["kind"] == "Deployment")  # fmt: skip
    assert "affinity" not in controller["spec"]["template"]["spec"]  # stays in the cloud


def test_the_tls_overlay_turns_every_url_into_wss_and_mounts_the_certificate() -> None:
    for name, c in containers(render("overlays/tls")):
        argv = c["args"]
        assert not any("ws://" in a for a in argv), (name, argv)
        args = parse(argv)
        assert args.tls_cert_file == "/etc/edgeoffload/tls/tls.crt", name
        assert c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS", name
        assert any(m["name"] == "tls" for m in c["volumeMounts"]), name


def test_autoscaling_uses_the_queue_depth_the_nodes_export() -> None:
    from edgeoffload.metrics import METRIC_NAMES

    hpa = next(d for d in render("base") if d["kind"] == "HorizontalPodAutoscaler")
    pods = next(m for m in hpa["spec"]["metrics"] if m["type"] == "Pods")
    metric = pods["pods"]["metric"]["name"]
    assert metric == "edgeoffload_node_queue_length"
    assert metric.removeprefix("edgeoffload_node_") in METRIC_NAMES  # node/sampler.py
    rules = yaml.safe_load((K8S / "prometheus-adapter" / "rules.yaml").read_text())["rules"]
    assert [r["name"]["as"] for r in rules] == [metric]


def test_the_network_policy_admits_clients_to_nodes_and_both_to_the_controller() -> None:
    policies = {d["metadata"]["name"]: d for d in render("base") if d["kind"] == "NetworkPolicy"}

    def sources(name: str) -> set[str]:
        rules = policies[name]["spec"]["ingress"]
        return {s["podSelector"]["matchLabels"]["edgeoffload/role"] for r in rules
                for s in r["from"]}  # fmt: skip

    assert sources("edgeoffload-node") == {"client"}
    assert sources("edgeoffload-controller") == {"node", "client"}


def test_every_compose_command_is_accepted_by_the_cli() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"controller", "node1", "node2", "node3", "demo"} <= set(services)
    for name, service in services.items():
        argv = [str(a) for a in service["command"]]
        args = parse(argv)
        assert len(set(flags(argv))) == len(flags(argv)), name
        assert "auth" in service["secrets"], name
        if args.command == "node":
            assert args.node_id == name and args.controller == "ws://controller:8700"
    assert compose["secrets"]["auth"]["file"] == "./auth-secret"
