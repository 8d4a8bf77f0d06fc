"""A route's answer as JSON made in the route's own worker thread.

FastAPI validates what a synchronous route returns against its response model in another
worker thread, then encodes it on the event loop. A hot read route (a chronology, a page of
the register) builds its model and returns `as_json(model)` instead: pydantic's encoder
writes the same JSON in the route's thread, and the event loop only sends it. The route
keeps `response_model=` for its documentation; tests compare the two answers.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def as_json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(by_alias=True), media_type="application/json")
