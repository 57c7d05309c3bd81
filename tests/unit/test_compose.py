"""compose.yaml: its two profiles, read as YAML (no Compose tool is installable offline here;
ADR 0019): the shop alone on SQLite with one volume at /data, and two replicas on PostgreSQL
16 that wait for its healthcheck, on ports that do not clash."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def services() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]


def in_profile(profile: str) -> dict:
    return {name: service for name, service in services().items()
            if profile in service.get("profiles", [])}


def host_ports(service: dict) -> list[str]:
    return [port.rsplit(":", 1)[0] for port in service.get("ports", [])]


def test_every_service_belongs_to_one_of_the_two_profiles() -> None:
    assert {profile for service in services().values() for profile in service["profiles"]} \
        == {"sqlite", "postgres"}
    assert all(len(service["profiles"]) == 1 for service in services().values())


def test_the_sqlite_profile_is_the_app_alone_with_its_volume_at_data() -> None:
    (app,) = in_profile("sqlite").values()
    assert app["build"] == {"context": ".", "dockerfile": "Containerfile"}
    assert [volume.split(":")[1] for volume in app["volumes"]] == ["/data"]
    assert "ORDERFLOW_DATABASE_URL" not in app.get("environment", {})


def test_the_postgres_profile_runs_two_replicas_on_a_healthy_postgres_16() -> None:
    profile = in_profile("postgres")
    database = profile.pop("postgres")
    (app,) = profile.values()
    assert database["image"].startswith("postgres:16")
    assert "healthcheck" in database and database["volumes"]
    assert app["deploy"]["replicas"] == 2
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert app["environment"]["ORDERFLOW_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert {"ORDERFLOW_ADMIN_TOKEN", "ORDERFLOW_SECRET_KEY"} <= set(app["environment"])


def test_the_ports_do_not_clash_and_stay_on_the_loopback() -> None:
    ports = [port for service in services().values() for port in host_ports(service)]
    assert ports == ["127.0.0.1:8000", "127.0.0.1:8001-8002"]
    assert len(set(ports)) == len(ports)
