"""Campaigns routes (extension, tag Campaigns): parameter sweeps submitted, followed and re-run as one."""

from __future__ import annotations

from typing import Any

from app.api._blueprint import Blueprint
from app.auth import current_user
from app.models import Campaign
from app.schemas import campaigns as s
from app.services import campaign as campaign_service
from app.services.campaign import CampaignChange, CampaignPage, CampaignStatus, CampaignTaskPage

blp = Blueprint(
    "Campaigns",
    __name__,
    description="Parameter sweeps: many tasks from one grid, followed and collected as one",
)
ONE = "/campaigns/<string:group_name>/<string:name>"


@blp.route("/campaigns", methods=["POST"])
@blp.user_required()
@blp.arguments(s.CreateCampaignReq)
@blp.response(200, s.CampaignInfo)
@blp.errors(403, 404, 409)
def create_campaign(req: dict[str, Any]) -> Campaign:
    """Create a campaign: submit one task per point of its grid"""
    return campaign_service.create_campaign(actor=current_user(), req=req)


@blp.route("/campaigns", methods=["GET"])
@blp.user_required()
@blp.arguments(s.CampaignsQueryArgs, location="query")
@blp.response(200, s.CampaignsResp)
@blp.errors(403, 404)
def list_campaigns(args: dict[str, Any]) -> CampaignPage:
    """List a group's campaigns, newest first"""
    return campaign_service.list_campaigns(actor=current_user(), **args)


@blp.route(ONE, methods=["GET"])
@blp.user_required()
@blp.response(200, s.CampaignResp)
@blp.errors(403, 404)
def get_campaign(group_name: str, name: str) -> Campaign:
    """Get a campaign: its grid and task template"""
    return campaign_service.get_campaign(actor=current_user(), group_name=group_name, name=name)


@blp.route(f"{ONE}/status", methods=["GET"])
@blp.user_required()
@blp.response(200, s.CampaignStatusResp)
@blp.errors(403, 404)
def get_campaign_status(group_name: str, name: str) -> CampaignStatus:
    """Get a campaign's task counts by state and outcome, and its first failures"""
    return campaign_service.campaign_status(actor=current_user(), group_name=group_name, name=name)


@blp.route(f"{ONE}/tasks", methods=["GET"])
@blp.user_required()
@blp.arguments(s.CampaignTasksArgs, location="query")
@blp.response(200, s.CampaignTasksResp)
@blp.errors(403, 404)
def list_campaign_tasks(args: dict[str, Any], group_name: str, name: str) -> CampaignTaskPage:
    """List a campaign's tasks with their parameters and outcomes"""
    return campaign_service.campaign_tasks(actor=current_user(), group_name=group_name, name=name, **args)


@blp.route(f"{ONE}/cancel", methods=["POST"])
@blp.user_required()
@blp.response(200, s.CampaignCancelResp)
@blp.errors(403, 404)
def cancel_campaign(group_name: str, name: str) -> CampaignChange:
    """Cancel every task of a campaign that has not ended"""
    return campaign_service.cancel_campaign(actor=current_user(), group_name=group_name, name=name)


@blp.route(f"{ONE}/retry", methods=["POST"])
@blp.user_required()
@blp.arguments(s.CampaignRetryReq)
@blp.response(200, s.CampaignRetryResp)
@blp.errors(403, 404)
def retry_campaign(req: dict[str, Any], group_name: str, name: str) -> CampaignChange:
    """Re-run a campaign's failed (or cancelled) tasks as new attempts"""
    return campaign_service.retry_campaign(actor=current_user(), group_name=group_name, name=name, **req)
