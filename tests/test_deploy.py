"""deploy/ and docker-compose.yml: validated by the real tools (docker-compose, promtool), and
cross-checked against the metrics the server actually exports."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from server.front import FrontMetrics
from server.metrics import ServerMetrics

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "focalcall.json"
METRIC = re.compile(r"\bfocalcall_[a-z0-9_]+")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/setup.sh installs it)")
    return path


def run(*cmd: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)


def exported_families():
    """Every metric family a node exports: its workers' (ServerMetrics) and its front's own."""
    return [*ServerMetrics().registry.collect(), *FrontMetrics().registry.collect()]


def exported_sample_names() -> set[str]:
    """Every sample name the server's registry can export, whatever has been observed yet."""
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    return {family.name + s for family in exported_families() for s in suffixes[family.type]}


def bind_mounts(volumes: list[str]) -> list[tuple[str, Path]]:
    """(container path, host path) of the bind mounts in ``docker-compose config`` output."""
    out = []
    for volume in volumes:
        source, target = volume.split(":")[:2]
        if source.startswith("/"):
            out.append((target, Path(source)))
    return out


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]


def test_compose_file_validates_and_mounts_what_exists():
    result = run(tool("docker-compose"), "-f", "docker-compose.yml", "config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"server-a", "server-b", "redis", "prometheus", "grafana"}
    for node in ("server-a", "server-b"):
        assert "NET_ADMIN" in services[node]["cap_add"]
        assert (ROOT / services[node]["build"]["dockerfile"]).is_file()
        command = services[node]["command"]
        assert command[command.index("--redis") + 1] == "redis://127.0.0.1:6379/0"
        port = command[command.index("--port") + 1]
        assert command[command.index("--node-url") + 1] == f"http://127.0.0.1:{port}/"
    assert "6379" in services["redis"]["command"]
    binds = {name: dict(bind_mounts(services[name]["volumes"])) for name in ("prometheus", "grafana")}
    for source in (*binds["prometheus"].values(), *binds["grafana"].values()):
        assert source.exists() and ROOT in source.parents, source
    assert (binds["prometheus"]["/etc/prometheus"] / "prometheus.yml").is_file()
    mounts = binds["grafana"]
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/focalcall.yml").read_text())
    assert (mounts[provider["providers"][0]["options"]["path"]] / DASHBOARD.name).is_file()
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]


def test_compose_validation_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  server:\n    image: x\n    cap_add: NET_ADMIN\n")
    result = run(tool("docker-compose"), "-f", str(broken), "config")
    assert result.returncode != 0 and "cap_add contains an invalid type" in result.stderr


def test_prometheus_config_and_rules_validate():
    promtool = tool("promtool")
    result = run(promtool, "check", "config", "prometheus.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr
    result = run(promtool, "check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert result.returncode == 0 and "4 rules found" in result.stdout, result.stdout + result.stderr
    scraped = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scraped["static_configs"][0]["targets"] == ["127.0.0.1:8080", "127.0.0.1:8081"]


def test_alerts_fire_when_they_should_and_not_otherwise():
    result = run(tool("promtool"), "test", "rules", "alerts_test.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_names_cover_the_issue():
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == {"FocalcallServerDown", "FocalcallPostRecoveryLossHigh",
                                           "FocalcallConcealmentHigh", "FocalcallWorkersRestarting"}


def test_dashboard_queries_are_valid_promql(tmp_path):
    # promtool has no expression checker of its own: wrap each query in a recording rule.
    exprs = [e.replace("$__rate_interval", "1m") for e in dashboard_exprs()]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:q{i}", "expr": e}
                                                        for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run(tool("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(exprs)} rules found" in result.stdout


def test_dashboard_and_alerts_use_only_exported_metrics_and_show_them_all():
    exported = exported_sample_names()
    used_by_alerts = set(METRIC.findall((PROMETHEUS / "alerts.yml").read_text()))
    used_by_dashboard = set(METRIC.findall(" ".join(dashboard_exprs())))
    assert used_by_alerts <= exported, used_by_alerts - exported
    assert used_by_dashboard <= exported, used_by_dashboard - exported
    families = {family.name for family in exported_families()}
    shown = {name for name in families if any(u.startswith(name) for u in used_by_dashboard)}
    assert shown == families, families - shown


def test_dashboard_uses_the_provisioned_datasource():
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
