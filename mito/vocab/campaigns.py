"""Campaigns (parameter sweeps): the limits and spellings the coordinator and the client share."""

from __future__ import annotations

import enum
import re
from typing import Final

# The most tasks one campaign may hold (points x repeats): a larger grid is refused before anything is
# submitted, so one request can never flood a queue or the database.
MAX_CAMPAIGN_TASKS: Final = 100_000
# The most campaigns, or tasks of a campaign, one page of a listing holds.
MAX_CAMPAIGN_PAGE: Final = 1000
# A campaign's name: a URL path segment that reads well in a shell (`mito campaigns status NAME`).
CAMPAIGN_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# A parameter's name: an identifier, so that `{name}` in args and env marks it unambiguously.
PARAMETER_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Built in: `{repeat}` is the repetition number of the task's point (1..repeat).
REPEAT_PLACEHOLDER: Final = "repeat"


class PointOutcome(enum.StrEnum):
    """How a committed task of a campaign ended; the value is its wire spelling."""

    Succeeded = "succeeded"  # Finished with exit status 0
    Failed = "failed"  # anything else but a user's cancellation: an exit code, a signal, a timeout, lost
    Cancelled = "cancelled"  # cancelled by its user (or by a campaign cancel)
