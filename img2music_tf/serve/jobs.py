"""The pieces the page asked for: a first-in first-out queue and the one worker thread that makes them.

The model is loaded once (`load_model`) and used by the worker alone, one picture at a time, through
`generate.music_from_images`: the music of a picture is the one `img2music generate PICTURE --seed S` makes
(with `--run`, `--method greedy`, `--tries` as chosen). Each piece lives in its own temporary folder, named by
a random id (the picture's file takes the upload's name, reduced to letters, digits, '-' and '_'); its files
are removed `file_lifetime_s` after it is made, and all of them when the studio closes.
A picture beyond `max_queue` waiting ones is refused (`QueueFull`), never dropped.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

from img2music_tf.errors import UserError
from img2music_tf.serve.config import ServeConfig
from img2music_tf.serve.form import PieceRequest

STATES = ("queued", "running", "done", "failed")
FILE_KINDS = ("picture", "midi", "wav", "piano_roll")
SWEEP_S = 30.0  # how often the worker looks for expired pieces when idle
log = logging.getLogger(__name__)


class QueueFull(UserError):
    """The queue holds `max_queue` pictures already (HTTP 503)."""


@dataclasses.dataclass(frozen=True)
class Model:
    """The loaded run and what the page says about it."""

    run: object  # run_folder.Run
    shipped: bool  # the model shipped in the package (its default decoding is sampling)
    va_predictor: str | None

    def describe(self) -> dict:
        """Which model and image weights make the music."""
        info = self.run.info
        return {
            "model": "the model shipped in the package" if self.shipped else f"the run {self.run.folder}",
            "preset": self.run.config.name,
            "image_weights": info.image_weights,
            "image_weights_sha256": info.image_weights_sha256,
            "default_decoding": "top-10 sampling, length rule" if self.shipped else "greedy",
        }

    def generation(self, request: PieceRequest) -> dict:
        """The decoding settings `img2music generate` takes for the same choices (commands/generate.py)."""
        from img2music_tf.pretrained import generation_settings

        return generation_settings(self.shipped, method="greedy" if request.decoding == "greedy" else None,
                                   tries=request.tries, seed=request.seed)


def load_model(config: ServeConfig) -> Model:
    """The run of `config.run_dir`, or the shipped one; a UserError if it cannot be loaded."""
    from img2music_tf.pretrained import model_folder
    from img2music_tf.run_folder import load_run

    run = load_run(config.run_dir if config.run_dir is not None else model_folder())
    return Model(run, config.run_dir is None, config.va_predictor)


@dataclasses.dataclass
class Job:
    """One picture's piece as it moves through the queue (changed by the worker only, under the lock)."""

    id: str
    request: PieceRequest
    folder: Path
    submitted: float
    state: str = "queued"
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    files: dict = dataclasses.field(default_factory=dict)  # kind -> Path, once made
    facts: dict = dataclasses.field(default_factory=dict)  # notes, seconds, VA, decoding

    @property
    def picture(self) -> Path:
        """Where the picture is kept: the upload's name reduced to letters, digits, '-' and '_' (never a path;
        it names the music files, their downloads and the piano roll's title, as `generate` does)."""
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(self.request.name).stem).strip("-")[:60] or "picture"
        return self.folder / f"{stem}{self.request.suffix}"


class Studio:
    """The queue and its worker; `close` stops it and removes every file it made."""

    def __init__(self, model: Model, config: ServeConfig):
        self.model, self.config = model, config
        self.root = Path(tempfile.mkdtemp(prefix="img2music-serve-"))
        self.jobs: dict[str, Job] = {}
        self.waiting: collections.deque[str] = collections.deque()
        self.lock = threading.Condition()
        self.closed = False
        self.worker = threading.Thread(target=self._work, name="img2music-serve-worker", daemon=True)
        self.worker.start()

    def submit(self, request: PieceRequest) -> Job:
        """Queue a piece for `request`: its picture is written into a new folder named by a random id."""
        with self.lock:
            if self.closed:
                raise UserError("the server is shutting down")
            if len(self.waiting) >= self.config.max_queue:
                raise QueueFull(f"{len(self.waiting)} pictures are waiting already: send this one again later")
            kept = dataclasses.replace(request, picture=b"")  # the bytes live in the file, not in memory
            job = Job(secrets.token_hex(16), kept, self.root / secrets.token_hex(16), time.time())
            job.folder.mkdir()
            job.picture.write_bytes(request.picture)
            job.files["picture"] = job.picture
            self.jobs[job.id] = job
            self.waiting.append(job.id)
            self.lock.notify_all()
        return job

    def status(self, job_id: str) -> dict | None:
        """The job's state for the API (None when there is no such job, or it expired)."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            now = time.time()
            status = {"id": job.id, "name": job.request.name, "state": job.state, "error": job.error,
                      "position": self.waiting.index(job.id) + 1 if job.state == "queued" else None,
                      "waited_s": round((job.started or now) - job.submitted, 2),
                      "seconds_running": round((job.finished or now) - job.started, 2) if job.started else None,
                      "files": {kind: f"/files/{job.id}/{kind}" for kind in job.files},
                      **self.model.describe()}
            if job.state == "done":
                status["piece"] = dict(job.facts)
                status["expires_in_s"] = round(job.finished + self.config.file_lifetime_s - now, 1)
            return status

    def file(self, job_id: str, kind: str) -> Path | None:
        """A job's file of `kind`, looked up by id; None when there is none."""
        with self.lock:
            job = self.jobs.get(job_id)
            return job.files.get(kind) if job is not None else None

    def close(self, wait_s: float = 30.0) -> None:
        """Stop taking and making pieces (the one being made is finished) and remove all files."""
        with self.lock:
            self.closed = True
            self.waiting.clear()
            self.lock.notify_all()
        if self.worker is not threading.current_thread():
            self.worker.join(wait_s)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- the worker ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.waiting and not self.closed:
                    self.lock.wait(min(SWEEP_S, self.config.file_lifetime_s))
                    self._sweep()
                if self.closed:
                    return
                job = self.jobs[self.waiting.popleft()]
                job.state, job.started = "running", time.time()
            try:
                files, facts = self._make(job)
                update = {"state": "done", "files": {**job.files, **files}, "facts": facts}
            except UserError as error:
                update = {"state": "failed", "error": str(error)}
            except Exception as error:  # a bug: said on the page and logged; the server keeps serving
                log.exception("making the piece of %s failed", job.request.name)
                update = {"state": "failed", "error": f"internal error ({type(error).__name__}: {error})"}
            with self.lock:
                for key, value in update.items():
                    setattr(job, key, value)
                job.finished = time.time()
                self._sweep()

    def _make(self, job: Job) -> tuple[dict, dict]:
        """Make the job's piece: its files by kind and its facts."""
        from img2music_tf import render
        from img2music_tf.generate import music_from_images
        from img2music_tf.image_va import with_estimates

        image_va, estimated = with_estimates([job.picture], [job.request.image_va])
        generation = self.model.generation(job.request)
        piece, = music_from_images(self.model.run, [job.picture], job.folder / "music", generation=generation,
                                   image_va=image_va, image_va_estimated=estimated,
                                   va_predictor_dir=self.model.va_predictor, wav=self.config.wav, progress=False)
        files = {"midi": piece.midi, "wav": piece.wav, "piano_roll": piece.piano_roll}
        facts = {"n_notes": piece.n_notes, "n_tokens": len(piece.tokens),
                 "seconds": round(render.read_midi(piece.midi).get_end_time(), 2),
                 "image_va": piece.image_va, "image_va_estimated": piece.image_va_estimated,
                 "music_va": piece.music_va, "generation": generation}
        return {kind: path for kind, path in files.items() if path is not None}, facts

    def _sweep(self) -> None:
        """Forget finished jobs older than the file lifetime and remove their folders (under the lock)."""
        now = time.time()
        for job in [job for job in self.jobs.values() if job.finished is not None]:
            if now - job.finished > self.config.file_lifetime_s:
                del self.jobs[job.id]
                shutil.rmtree(job.folder, ignore_errors=True)
