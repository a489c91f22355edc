"""The agent's session: a user token (cached, checked with /auth, else a retained login) and registration.

The token cache is the CLI's format (client/credentials.py) in the agent's own file, so the user's other
sessions survive and a restarted agent needs no password while its token is valid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from client.credentials import Credential, CredentialCache
from client.http import ApiError
from worker_agent.config import WorkerConfig
from worker_agent.link import Link
from worker_agent.task import WorkerGone

log = logging.getLogger("mito.worker")


@dataclass(frozen=True)
class Registration:
    """What registering gave this worker."""

    worker_id: str
    groups: list[str]
    redis_url: str | None
    features: frozenset[str] = frozenset()  # the coordinator's protocol extensions (WorkerFeature values)


class Session:
    """Log in as the agent's user and register the worker (the API client keeps the worker token)."""

    def __init__(self, config: WorkerConfig, link: Link):
        self.config = config
        self.link = link
        self.cache = CredentialCache(config.credentials_file())

    def register(self) -> Registration:
        """Register with the configured tags, groups (default: the user's own group) and labels."""
        user_token, username = self.login()
        cfg = self.config
        groups = cfg.groups or [username]
        resp = self.link.call(
            "register",
            lambda: self.link.api.register(
                user_token, tags=cfg.tags, groups=groups, labels=cfg.labels, lifetime=cfg.lifetime
            ),
            interrupt=self.link.control.stopping,
        )
        features = frozenset(str(f) for f in resp.get("features") or [])
        return Registration(str(resp["worker_id"]), groups, resp.get("redis_url"), features)

    def login(self) -> tuple[str, str]:
        """A user token and its username: the cached one if /auth accepts it, else a retained login."""
        cfg, api, stopping = self.config, self.link.api, self.link.control.stopping
        cached = self.cache.find(cfg.user, cfg.coordinator)
        if cached is not None:
            try:
                name = self.link.call(
                    "auth", lambda: api.auth(cached.token), interrupt=stopping, gone_on_401=False
                )
                log.info("reusing the cached credential of %s", name)
                return cached.token, name
            except ApiError as exc:
                if exc.status != 401:
                    raise
                log.info("the cached credential was refused; logging in again")
        user, password = cfg.user, cfg.password
        if not user or not password:
            raise WorkerGone("no valid cached credential: give --user and --password")
        try:
            token = self.link.call(
                "login", lambda: api.login(user, password, retain=True), interrupt=stopping, gone_on_401=False
            )
        except ApiError as exc:
            raise WorkerGone(f"login as {user} failed: {exc.message}") from exc
        log.info("logged in as %s", user)
        self.cache.save(Credential(user, token, cfg.coordinator))
        return token, user
