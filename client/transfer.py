"""Moving bytes to and from presigned URLs: the one helper the SDK, the CLI and the worker agent share.

A presigned URL points at the object store (S3) or at the coordinator's local store (then it may be a
path such as `/storage/...`, resolved against the coordinator). Bytes are streamed between the file and the
connection in 1 MiB chunks, never held whole in memory. No token is sent: the URL is the credential.
Failures raise the same errors as API calls (client/http.py): ApiError with the store's status, and
TransportError (status 0) when the store cannot be reached, so one retry rule covers calls and transfers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx

from client.http import ApiError, TransportError

Progress = Callable[[int, int], None]  # (bytes done, total bytes)
CHUNK = 1 << 20


def absolute_url(base_url: str, url: str) -> str:
    """A presigned URL as given, or a local-store path resolved against the coordinator's base URL."""
    return urljoin(base_url.rstrip("/") + "/", url)


def put_file(
    client: httpx.Client,
    url: str,
    source: Path | str,
    *,
    timeout: float | None = None,
    progress: Progress | None = None,
) -> int:
    """PUT a file to a presigned URL with its Content-Length (streamed); return the byte count."""
    path = Path(source)
    size = path.stat().st_size

    def chunks() -> Iterator[bytes]:
        done = 0
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                done += len(chunk)
                yield chunk
                if progress:
                    progress(done, size)

    headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    try:
        resp = client.put(
            url, content=chunks() if size else b"", headers=headers, timeout=_timeout(client, timeout)
        )
    except httpx.TransportError as exc:
        raise TransportError(f"upload to {url} failed: {exc}") from exc
    if resp.status_code >= 300:
        raise ApiError(resp.status_code, f"upload failed: {_reason(resp)}")
    if progress and not size:
        progress(0, 0)
    return size


def get_file(
    client: httpx.Client,
    url: str,
    dest: Path | str,
    *,
    size: int | None = None,
    timeout: float | None = None,
    progress: Progress | None = None,
) -> int:
    """GET a presigned URL into a file, creating its directory (streamed); return the byte count."""
    path = Path(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = 0
    try:
        with client.stream("GET", url, follow_redirects=True, timeout=_timeout(client, timeout)) as resp:
            if resp.status_code >= 300:
                resp.read()
                raise ApiError(resp.status_code, f"download failed: {_reason(resp)}")
            total = size if size is not None else int(resp.headers.get("Content-Length") or 0)
            with path.open("wb") as fh:
                for chunk in resp.iter_bytes(CHUNK):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    except httpx.TransportError as exc:
        raise TransportError(f"download from {url} failed: {exc}") from exc
    return done


def _timeout(client: httpx.Client, seconds: float | None) -> httpx.Timeout:
    """No timeout given: the client's own (httpx reads an explicit None as "wait forever")."""
    return client.timeout if seconds is None else httpx.Timeout(seconds)


def _reason(resp: httpx.Response) -> str:
    return resp.text.strip()[:200] or resp.reason_phrase
