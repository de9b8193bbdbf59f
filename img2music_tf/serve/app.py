"""The Starlette application: the page, its JSON API and the generated files.

    GET  /                        the page (static/index.html; its script and style under /static/)
    GET  /api/model               which model and image weights make the music, and the limits
    POST /api/pieces              a picture (multipart field `picture`; optional `va` "V,A", `decoding`
                                  default|greedy, `seed`, `tries`) -> 202 {"id", "url", "state", "position"}
    GET  /api/pieces/{id}         its state: queued (with its position), running, done (facts, file URLs), failed
    GET  /files/{id}/{kind}       a piece's picture, midi, wav or piano_roll

A file is found by its piece's id, which must be 32 hex digits, and its kind, one of four words, looked up
among the pieces made: no text of the URL is joined into a path. A bad upload gets {"error": one line} with status 400, 413 (over the size
limit), 411 (no Content-Length) or 503 (queue full).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from img2music_tf.errors import UserError
from img2music_tf.serve.form import TooLarge, check_size, piece_request
from img2music_tf.serve.jobs import FILE_KINDS, QueueFull, Studio

STATIC = Path(__file__).resolve().parent / "static"
JOB_ID = re.compile(r"[0-9a-f]{32}")
FORM_OVERHEAD = 64 * 1024  # the multipart framing and text fields beside the picture
MEDIA_TYPES = {"midi": "audio/midi", "wav": "audio/wav", "piano_roll": "image/png"}


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(studio: Studio) -> Starlette:
    """The page and API around `studio`, which the app closes (removing its files) when it shuts down."""
    limit = studio.config.max_upload_bytes

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def model(request: Request) -> Response:
        return JSONResponse({**studio.model.describe(), "max_upload_bytes": limit,
                             "file_lifetime_s": studio.config.file_lifetime_s, "max_queue": studio.config.max_queue})

    async def submit(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            return error("send the picture with a Content-Length (a multipart form upload)", 411)
        try:
            check_size(max(int(length) - FORM_OVERHEAD, 0), limit)
            form = await request.form(max_files=1, max_fields=8, max_part_size=FORM_OVERHEAD)
            upload = form.get("picture")
            if upload is None or isinstance(upload, str):
                raise UserError("no picture: send one as the form field `picture` (multipart/form-data)")
            data = await upload.read()
            fields = {key: value for key, value in form.items() if isinstance(value, str)}
            checked = await run_in_threadpool(piece_request, data, upload.filename or "", fields, limit)
            job = await run_in_threadpool(studio.submit, checked)  # writes the picture
        except TooLarge as problem:
            return error(str(problem), 413)
        except QueueFull as problem:
            return JSONResponse({"error": str(problem)}, status_code=503, headers={"Retry-After": "10"})
        except UserError as problem:
            return error(str(problem))
        except MultiPartException as problem:
            return error(f"the upload is not a form this page reads ({problem.message})")
        return JSONResponse({**studio.status(job.id), "url": f"/api/pieces/{job.id}"}, status_code=202)

    async def piece(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        status = studio.status(job_id) if JOB_ID.fullmatch(job_id) else None
        if status is None:
            return error(f"no such piece (pieces are kept {studio.config.file_lifetime_s / 60:g} minutes)", 404)
        return JSONResponse(status)

    async def download(request: Request) -> Response:
        job_id, kind = request.path_params["job_id"], request.path_params["kind"]
        path = studio.file(job_id, kind) if JOB_ID.fullmatch(job_id) and kind in FILE_KINDS else None
        if path is None:
            return error("no such file", 404)
        return FileResponse(path, media_type=MEDIA_TYPES.get(kind), filename=path.name,
                            content_disposition_type="inline" if kind in ("picture", "piano_roll", "wav")
                            else "attachment")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        studio.close()

    app = Starlette(routes=[
        Route("/", page),
        Route("/api/model", model),
        Route("/api/pieces", submit, methods=["POST"]),
        Route("/api/pieces/{job_id}", piece),
        Route("/files/{job_id}/{kind}", download),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], lifespan=lifespan)
    app.state.studio = studio
    return app
