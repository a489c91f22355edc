"""Live-output schemas (extension, tag LiveOutput): chunks an agent ships, and what a follower reads."""

from __future__ import annotations

from marshmallow import fields, post_load, validate

from app.models import TaskState
from app.schemas._base import BodySchema, EnumName, QuerySchema, RespSchema, StrictInteger
from app.services.output_store import Chunk
from mito.vocab.output import CHUNK_MAX, CHUNKS_PER_REQUEST, WAIT_MAX, OutputStream

STREAMS = [s.name for s in OutputStream]


class OutputChunkReq(BodySchema):
    stream = EnumName(OutputStream, required=True)
    data = fields.String(required=True, validate=validate.Length(max=CHUNK_MAX))
    skipped = StrictInteger(
        load_default=0, validate=validate.Range(min=0, max=2**62),
        metadata={"description": "Bytes of this stream the agent skipped just before this chunk"},
    )  # fmt: skip

    @post_load
    def chunk(self, data, **kwargs) -> Chunk:
        return Chunk(stream=data["stream"], data=data["data"], skipped=data["skipped"])


class ShipOutputReq(BodySchema):
    id = StrictInteger(required=True, bits=64, metadata={"description": "The claimed task's id"})
    chunks = fields.List(
        fields.Nested(OutputChunkReq), required=True, validate=validate.Length(max=CHUNKS_PER_REQUEST)
    )


class OutputQueryArgs(QuerySchema):
    after = fields.String(
        load_default=None, validate=validate.Length(max=64),
        metadata={"description": "The `next` of a previous answer: only later output is returned"},
    )  # fmt: skip
    wait = fields.Float(
        load_default=0.0, validate=validate.Range(min=0, max=WAIT_MAX),
        metadata={"description": f"Seconds to wait for output while the task is active (max {WAIT_MAX:g})"},
    )  # fmt: skip
    stream = EnumName(
        OutputStream, load_default=None, metadata={"description": "Only this stream (default: both)"}
    )


class OutputChunkResp(RespSchema):
    stream = EnumName(OutputStream, required=True)
    data = fields.String(required=True)
    skipped = fields.Integer(required=True)


class TaskOutputResp(RespSchema):
    chunks = fields.List(fields.Nested(OutputChunkResp), required=True)
    next = fields.String(
        allow_none=True, metadata={"description": "Pass as `after` to read on (null: nothing read yet)"}
    )
    running = fields.Boolean(
        required=True, metadata={"description": "The task is still active: more output may come"}
    )
    state = EnumName(TaskState, required=True)
