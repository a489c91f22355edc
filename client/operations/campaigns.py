"""Campaigns: parameter sweeps submitted, followed, cancelled and re-run as one (extension tag Campaigns)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from client.bodies import Json, campaign_request, drop_none, submit_request, task_spec
from client.operations._base import Operations, q
from mito.vocab.campaigns import MAX_CAMPAIGN_PAGE

# Seconds a campaign's creation may take: its tasks are written in one transaction, about a thousand a
# second on a small coordinator, so the largest campaign takes minutes, not the usual request's seconds.
CREATE_TIMEOUT = 900.0


class CampaignOperations(Operations):
    """Campaigns: one grid of parameters, one task per point."""

    def create_campaign(
        self,
        *,
        group_name: str,
        args: list[str],
        parameters: Mapping[str, Iterable[object]] | None = None,
        points: Iterable[Mapping[str, object]] | None = None,
        repeat: int = 1,
        name: str | None = None,
        tags: Iterable[str] = (),
        labels: Iterable[str] = (),
        timeout: str = "10m",
        priority: int = 0,
        envs: Mapping[str, str] | None = None,
        resources: list[Json] | None = None,
        terminal_output: bool = False,
        watch: tuple[str, str] | list[str] | None = None,
        retry: Mapping[str, Any] | None = None,
    ) -> Json:
        """Submit one task per point of the grid (`{name}` filled in args and env values): the campaign."""
        spec = task_spec(args, envs=envs, resources=resources, terminal_output=terminal_output, watch=watch)
        task = submit_request(group_name, spec, tags, labels, timeout, priority, retry)
        body = campaign_request(
            group_name, task, parameters=parameters, points=points, repeat=repeat, name=name
        )
        return self._call("POST", "/campaigns", json=body, timeout=CREATE_TIMEOUT)

    def list_campaigns(
        self, group_name: str | None = None, *, limit: int = 100, cursor: str | None = None
    ) -> Json:
        """One page of a group's campaigns, newest first: {campaigns, group_name, next_cursor}."""
        params = drop_none(group_name=group_name, limit=limit, cursor=cursor)
        return self._call("GET", "/campaigns", params=params)

    def get_campaign(self, group_name: str, name: str) -> Json:
        """A campaign with its grid and task template."""
        return self._call("GET", f"/campaigns/{q(group_name)}/{q(name)}")

    def campaign_status(self, group_name: str, name: str) -> Json:
        """Task counts by state and outcome, whether it is done, and its first failures."""
        return self._call("GET", f"/campaigns/{q(group_name)}/{q(name)}/status")

    def campaign_tasks(
        self, group_name: str, name: str, *, limit: int = MAX_CAMPAIGN_PAGE, cursor: str | None = None
    ) -> Json:
        """One page of a campaign's tasks in submission order: {tasks, next_cursor}."""
        params = drop_none(limit=limit, cursor=cursor)
        return self._call("GET", f"/campaigns/{q(group_name)}/{q(name)}/tasks", params=params)

    def iter_campaign_tasks(self, group_name: str, name: str) -> Iterator[Json]:
        """Every task of a campaign, page after page."""
        cursor: str | None = None
        while True:
            page = self.campaign_tasks(group_name, name, cursor=cursor)
            yield from page["tasks"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel_campaign(self, group_name: str, name: str) -> Json:
        """Cancel every task of the campaign that has not ended: {name, group_name, cancelled_count}."""
        return self._call("POST", f"/campaigns/{q(group_name)}/{q(name)}/cancel")

    def retry_campaign(
        self, group_name: str, name: str, *, failed: bool = True, cancelled: bool = False
    ) -> Json:
        """Re-run the campaign's failed (and/or cancelled) tasks: {name, group_name, retried_count}."""
        body = {"failed": failed, "cancelled": cancelled}
        return self._call("POST", f"/campaigns/{q(group_name)}/{q(name)}/retry", json=body)
