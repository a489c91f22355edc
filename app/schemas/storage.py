"""Wire schemas of artifacts and attachments (the spec's components, field for field)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from app.models.enums import ATTACHMENT_CONTENT_TYPE
from app.schemas._base import BodySchema, QuerySchema, RespSchema, StrictInteger
from app.schemas.task_fields import ArtifactContentTypeField
from app.schemas.tasks import TaskFilter

# An extension the original has answered since 0.6.7 (its SDK reads it): the key already had an object.
_EXIST = "true when the key already had an object (it is overwritten)"


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("NUL characters are not allowed.")


def _key(**kwargs):
    """An attachment key (or part of one): the full rules are checked by the storage layer."""
    return fields.String(validate=_no_nul, **kwargs)


def _length(**kwargs):
    return StrictInteger(bits=64, unsigned=True, **kwargs)


class _Page:
    limit = _length(allow_none=True)
    offset = _length(allow_none=True)


class DownloadResp(RespSchema):
    """The body of every single download answer (302 or, with ?redirect=false, 200)."""

    url = fields.String(required=True)
    size = fields.Integer(required=True)


class DownloadArgs(QuerySchema):
    redirect = fields.Boolean(
        load_default=True, metadata={"description": "false: answer 200 with {url, size}"}
    )


class ArtifactDownloadArgs(DownloadArgs):
    attempt = fields.Integer(
        validate=validate.Range(min=0),
        metadata={"description": "Extension: the artifact one attempt uploaded (0: a user's upload)"},
    )


# ---------------------------------------------------------------- attachments


class UploadAttachmentReq(BodySchema):
    key = _key(required=True)
    content_length = _length(required=True)


class UploadAttachmentResp(RespSchema):
    exist = fields.Boolean(required=True, metadata={"description": _EXIST})
    url = fields.String(required=True)


class AttachmentMetadata(RespSchema):
    content_type = fields.Constant(
        ATTACHMENT_CONTENT_TYPE, required=True, metadata={"type": "string", "enum": [ATTACHMENT_CONTENT_TYPE]}
    )
    size = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class AttachmentQueryInfo(AttachmentMetadata):
    key = fields.String(required=True)


class AttachmentsQueryReq(BodySchema, _Page):
    key = _key(allow_none=True)
    count = fields.Boolean(load_default=False)


class AttachmentsQueryResp(RespSchema):
    count = fields.Integer(required=True)
    attachments = fields.List(fields.Nested(AttachmentQueryInfo), required=True)
    group_name = fields.String(required=True)


class AttachmentsDownloadByFilterReq(BodySchema, _Page):
    key = _key(allow_none=True)


class AttachmentsDownloadByKeysReq(BodySchema):
    keys = fields.List(_key(), required=True)


class AttachmentDownloadItem(RespSchema):
    key = fields.String(required=True)
    url = fields.String(required=True)
    size = fields.Integer(required=True)


class AttachmentsDownloadListResp(RespSchema):
    downloads = fields.List(fields.Nested(AttachmentDownloadItem), required=True)
    group_name = fields.String(required=True)


class AttachmentsDeleteByFilterReq(BodySchema, _Page):
    key = _key(allow_none=True)


class AttachmentsDeleteByFilterResp(RespSchema):
    deleted_count = fields.Integer(required=True)
    group_name = fields.String(required=True)


class AttachmentsDeleteByKeysReq(BodySchema):
    keys = fields.List(_key(), required=True)


class AttachmentsDeleteByKeysResp(RespSchema):
    deleted_count = fields.Integer(required=True)
    failed_keys = fields.List(fields.String(), required=True)
    group_name = fields.String(required=True)


# ---------------------------------------------------------------- artifacts


class UploadArtifactReq(BodySchema):
    content_type = ArtifactContentTypeField(required=True)
    content_length = _length(required=True)


class UploadArtifactResp(RespSchema):
    exist = fields.Boolean(required=True, metadata={"description": _EXIST})
    url = fields.String(required=True)


class ArtifactTaskFilter(TaskFilter):
    """The TasksQueryReq filter fields (the task service's filter), plus the artifact content type."""

    reporter_uuid = fields.UUID(allow_none=True)
    content_type = ArtifactContentTypeField(required=True)


class ArtifactsDownloadByFilterReq(ArtifactTaskFilter):
    pass


class ArtifactsDeleteByFilterReq(ArtifactTaskFilter):
    pass


class ArtifactsByUuidsReq(BodySchema):
    uuids = fields.List(fields.UUID(), required=True)
    content_type = ArtifactContentTypeField(required=True)


class ArtifactsDownloadByUuidsReq(ArtifactsByUuidsReq):
    pass


class ArtifactsDeleteByUuidsReq(ArtifactsByUuidsReq):
    pass


class ArtifactDownloadItem(RespSchema):
    uuid = fields.UUID(required=True)
    url = fields.String(required=True)
    size = fields.Integer(required=True)


class ArtifactsDownloadListResp(RespSchema):
    downloads = fields.List(fields.Nested(ArtifactDownloadItem), required=True)


class ArtifactsDeleteByFilterResp(RespSchema):
    deleted_count = fields.Integer(required=True)


class ArtifactsDeleteByUuidsResp(RespSchema):
    deleted_count = fields.Integer(required=True)
    failed_uuids = fields.List(fields.UUID(), required=True)
