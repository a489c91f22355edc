"""Other users' requests during a login brute force, against a real coordinator (gunicorn) on PostgreSQL.

A victim sends authenticated requests (GET /users/groups) one after another, first alone (the in-run
reference), then while attacker threads post wrong passwords to /login as fast as they can. Three setups:

- unbounded: password checks unbounded per process and no throttle (MITO_LOGIN_CONCURRENCY=64, limits
  out of reach): what a brute force cost before issue #12 item 12;
- bounded: the default bound of one password check at a time per process, throttle out of reach (a
  brute force spread over many addresses and user names);
- throttled: the defaults (the attack comes from one address: it gets 429 after 30 failures a minute).

Run: .venv/bin/python -m bench.login_bruteforce [--attackers 16] [--samples 300] [--processes 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import LiveCoordinator, md5_list  # noqa: E402

UNTHROTTLED = {
    "MITO_LOGIN_FAILURES_PER_USER": "1000000/minute",
    "MITO_LOGIN_FAILURES_PER_ADDRESS": "1000000/minute",
}
SETUPS = {
    "unbounded": {**UNTHROTTLED, "MITO_LOGIN_CONCURRENCY": "64"},
    "bounded": UNTHROTTLED,
    "throttled": {},
}


def p50_ms(client: httpx.Client, headers: dict[str, str], samples: int) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        assert client.get("/users/groups", headers=headers).status_code == 200
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def attack(url: str, stop: threading.Event, statuses: Counter) -> None:
    body = {"username": "mitosis_admin", "md5_password": md5_list("not-the-password"), "retain": True}
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            statuses[client.post("/login", json=body).status_code] += 1


def run(db_url: str, data_dir: Path, setup: str, args: argparse.Namespace) -> None:
    coordinator = LiveCoordinator(db_url, data_dir / setup, processes=args.processes, **SETUPS[setup]).start()
    try:
        with httpx.Client(base_url=coordinator.url, timeout=60) as client:
            login = client.post(
                "/login", json={"username": "victim", "md5_password": md5_list("pw"), "retain": True}
            )
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            p50_ms(client, headers, 20)  # warm up
            idle = p50_ms(client, headers, args.samples)
            stop, statuses = threading.Event(), Counter()
            threads = [
                threading.Thread(target=attack, args=(coordinator.url, stop, statuses))
                for _ in range(args.attackers)
            ]
            for thread in threads:
                thread.start()
            time.sleep(2)
            started, before = time.perf_counter(), sum(statuses.values())
            loaded = p50_ms(client, headers, args.samples)
            rate = (sum(statuses.values()) - before) / (time.perf_counter() - started)
            stop.set()
            for thread in threads:
                thread.join()
        answers = ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items()))
        print(
            f"{setup:>10}: victim p50 {idle:6.1f} ms alone, {loaded:7.1f} ms under attack "
            f"(ratio {loaded / idle:5.1f}x); attack {rate:6.0f} logins/s ({answers})"
        )
    finally:
        coordinator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("MITO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--attackers", type=int, default=16)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--setups", default=",".join(SETUPS))
    args = parser.parse_args()
    from app import migrate
    from app.config import normalise_db_url

    name = f"mito_bench_login_{os.getpid()}"
    admin = sa.create_engine(normalise_db_url(args.pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db_url = normalise_db_url(args.pg_url.rsplit("/", 1)[0] + "/" + name)
    try:
        migrate.bootstrap(db_url, "mitosis_admin", "mitosis_admin")
        _create_victim(db_url)
        print(f"coordinator: gunicorn, {args.processes} processes x 8 threads; nproc {os.cpu_count()}; "
              f"{args.attackers} attacker threads; {args.samples} victim requests per phase")  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            for setup in args.setups.split(","):
                run(db_url, Path(tmp), setup, args)
    finally:
        from app.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _create_victim(db_url: str) -> None:
    from app import auth, db
    from app.services import user as user_service

    db.bind(db_url)
    user_service.create_user(username="victim", md5_password=auth.md5_bytes("pw"))
    db.session.remove()


if __name__ == "__main__":
    main()
