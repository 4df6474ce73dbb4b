"""Real Prometheus and Alertmanager processes on loopback, configured from docker/'s files."""
from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO
from tests.kafka_tools import free_port

DOCKER = REPO / "docker"
WORKER_JOB = "movie-recs-worker"
FAST_FOR = "3s"
"""Every rule's ``for`` in the test copy: the expressions are the real ones, the waits short."""


def get_json(url: str, timeout_s: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as reply:
        return json.loads(reply.read())


def wait_until(check: Any, timeout_s: float, what: str, every_s: float = 0.5) -> Any:
    """Poll ``check()`` until it returns something truthy; that value, or TimeoutError."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(every_s)
    raise TimeoutError(f"{what} not seen in {timeout_s}s (last: {last!r})")


class Process:
    """A server process logging to a file, stopped at the end."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self.proc = subprocess.Popen(args, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def fast_rules(target: Path) -> list[str]:
    """docker/prometheus/rules/*.yml copied with every ``for`` shortened; the copies' paths."""
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in sorted((DOCKER / "prometheus" / "rules").glob("*.yml")):
        doc = yaml.safe_load(source.read_text())
        for group in doc["groups"]:
            group["interval"] = "1s"
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = FAST_FOR
        (target / source.name).write_text(yaml.safe_dump(doc))
        paths.append(str(target / source.name))
    return paths


class Prometheus(Process):
    """docker/prometheus/prometheus.yml with its worker targets replaced by ``targets``."""

    def __init__(self, tmp: Path, targets: list[str], alertmanager: str | None) -> None:
        config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = fast_rules(tmp / "rules")
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        jobs[WORKER_JOB]["static_configs"][0]["targets"] = targets
        self.port = free_port()
        jobs["prometheus"]["static_configs"][0]["targets"] = [f"127.0.0.1:{self.port}"]
        if alertmanager is None:
            config.pop("alerting")
        else:
            config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        super().__init__(["prometheus", f"--config.file={tmp / 'prometheus.yml'}",
                          f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
                         tmp / "prometheus.log")
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: urllib.request.urlopen(f"{self.url}/-/ready", timeout=2).status == 200, 60,
                   f"prometheus ready\n{self.log_tail()}")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector; raises on an error answer (a bad query)."""
        body = get_json(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        if body["status"] != "success":
            raise ValueError(f"{promql}: {body}")
        return body["data"]["result"]

    def query_range(self, promql: str, seconds: float = 60, step: str = "2s") -> dict[str, Any]:
        """A range query's whole answer (``status``, ``data``, ``error``) without raising."""
        now = time.time()
        params = urllib.parse.urlencode({"query": promql, "start": now - seconds, "end": now, "step": step})
        try:
            return get_json(f"{self.url}/api/v1/query_range?{params}")
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        alerts = get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


class HttpSink:
    """An HTTP server that keeps every body POSTed to it: Slack's webhook, an OTLP collector."""

    def __init__(self, path: str = "/") -> None:
        self.posts: list[tuple[str, bytes]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                sink.posts.append((self.path, self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def json_messages(self) -> list[dict[str, Any]]:
        return [{"path": path, **json.loads(body)} for path, body in list(self.posts)]

    def stop(self) -> None:
        self.server.shutdown()


class Alertmanager(Process):
    """docker/alertmanager/alertmanager.yml with the webhook URL file pointed at a test sink."""

    def __init__(self, tmp: Path, webhook_url: str) -> None:
        source = DOCKER / "alertmanager"
        config = yaml.safe_load((source / "alertmanager.yml").read_text())
        (tmp / "slack_webhook_url").write_text(webhook_url + "\n")
        config["global"]["slack_api_url_file"] = str(tmp / "slack_webhook_url")
        config["templates"] = [str(source / t) for t in config["templates"]]
        for route in [config["route"], *config["route"].get("routes", [])]:
            route.update(group_wait="1s", group_interval="2s")
        (tmp / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        super().__init__(["prometheus-alertmanager", f"--config.file={tmp / 'alertmanager.yml'}",
                          f"--storage.path={tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                          "--cluster.listen-address="], tmp / "alertmanager.log")
        self.address = f"127.0.0.1:{self.port}"
        wait_until(lambda: urllib.request.urlopen(f"http://{self.address}/-/ready", timeout=2).status == 200, 60,
                   f"alertmanager ready\n{self.log_tail()}")
