"""Throughput of the local-disk store through a real coordinator (gunicorn): PUT and GET of one large object.

Run: .venv/bin/python -m bench.storage_local [--mb 256]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import httpx

from app import migrate
from tests.helpers import LiveCoordinator, md5_list


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256)
    args = parser.parse_args()
    size = args.mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        db_url = f"sqlite:///{data_dir / 'bench.db'}"
        migrate.bootstrap(db_url, "mitosis_admin", "mitosis_admin")
        coordinator = LiveCoordinator(db_url, data_dir).start()
        try:
            base = coordinator.url
            login = httpx.post(
                f"{base}/login", json={"username": "mitosis_admin", "md5_password": md5_list("mitosis_admin")}
            )
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            source = data_dir / "blob.bin"
            with source.open("wb") as fh:
                for _ in range(args.mb):
                    fh.write(os.urandom(1024 * 1024))
            resp = httpx.post(
                f"{base}/groups/mitosis_admin/attachments",
                json={"key": "bench/blob.bin", "content_length": size},
                headers=headers,
            )
            url = resp.json()["url"]

            def chunks():
                with source.open("rb") as fh:
                    while chunk := fh.read(1024 * 1024):
                        yield chunk

            start = time.perf_counter()
            put = httpx.put(url, content=chunks(), headers={"Content-Length": str(size)}, timeout=600)
            put_s = time.perf_counter() - start
            assert put.status_code == 200, put.text
            dl = httpx.get(
                f"{base}/groups/mitosis_admin/download/attachments/bench/blob.bin?redirect=false",
                headers=headers,
            )
            start = time.perf_counter()
            received = 0
            with httpx.stream("GET", dl.json()["url"], timeout=600) as stream:
                for chunk in stream.iter_bytes(1024 * 1024):
                    received += len(chunk)
            get_s = time.perf_counter() - start
            assert received == size
            put_rate, get_rate = args.mb / put_s, args.mb / get_s
            print(f"{args.mb} MiB: PUT {put_s:.2f}s ({put_rate:.0f} MiB/s), ", end="")
            print(f"GET {get_s:.2f}s ({get_rate:.0f} MiB/s)")
        finally:
            coordinator.stop()


if __name__ == "__main__":
    main()
