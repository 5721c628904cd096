"""GET /api/v1/incidents/{ref}/postmortem: the markdown draft."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from bot.postmortem.render import render_postmortem
from bot.web.deps import Reader, RuntimeDep

router = APIRouter(prefix="/api/v1/incidents", tags=["postmortems"])


@router.get(
    "/{ref}/postmortem",
    response_class=PlainTextResponse,
    summary="Blameless postmortem draft (markdown) built from the timeline",
)
async def postmortem(ref: str, runtime: RuntimeDep, _actor: Reader) -> PlainTextResponse:
    text = await render_postmortem(runtime.db, ref, runtime.settings.templates_path)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
