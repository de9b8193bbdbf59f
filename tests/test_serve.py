"""`img2music serve`: the API gives the music of `img2music generate`, refuses bad uploads with one line and keeps
serving, serves files by id only, queues with positions, and removes its files (Starlette's TestClient)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from test_generate import write_picture

from img2music_tf.serve.config import ServeConfig


def png_bytes(size=(40, 30), colour=(200, 120, 40)) -> bytes:
    from PIL import Image

    data = io.BytesIO()
    Image.new("RGB", size, colour).save(data, "PNG")
    return data.getvalue()


def noise_png(pixels: int) -> bytes:
    """A PNG of random pixels: about 3 bytes a pixel, whatever the compression."""
    import numpy as np
    from PIL import Image

    data = io.BytesIO()
    values = np.random.default_rng(0).integers(0, 256, (pixels, 1, 3), dtype=np.uint8)
    Image.fromarray(values).save(data, "PNG")
    return data.getvalue()


@pytest.fixture
def serve(tiny_run):
    """serve(**config) -> a TestClient of a page on the tiny run (closed, files removed, after the test)."""
    from starlette.testclient import TestClient

    from img2music_tf.serve.app import create_app
    from img2music_tf.serve.jobs import Studio, load_model

    clients = []

    def start(**settings):
        config = ServeConfig(run_dir=str(tiny_run), **{"wav": False, **settings})
        client = TestClient(create_app(Studio(load_model(config), config)))
        clients.append(client.__enter__())
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def post(client, data: bytes = None, name="pic.png", **fields):
    files = {"picture": (name, png_bytes() if data is None else data, "image/png")}
    return client.post("/api/pieces", files=files, data={"va": "5,5", **fields})


def finished(client, job_id: str, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(f"/api/pieces/{job_id}").json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"piece {job_id} not made in {timeout_s} s")


def generate_cli(tmp_path, picture: Path, *options) -> Path:
    """The MIDI `img2music generate` writes for `picture`."""
    from img2music_tf import cli

    out = tmp_path / "cli"
    assert cli.main(["generate", str(picture), *map(str, options), "--out", str(out), "--no-wav"]) == 0
    return out / f"{picture.stem}.mid"


def test_a_picture_gets_the_music_of_generate_and_its_files(serve, tiny_run, tmp_path):
    picture = write_picture(tmp_path / "pic.png")
    client = serve(wav=True)
    response = post(client, picture.read_bytes(), seed="3")
    assert response.status_code == 202
    status = finished(client, response.json()["id"])
    assert status["state"] == "done", status["error"]
    midi = client.get(status["files"]["midi"])
    cli_midi = generate_cli(tmp_path, picture, "--run", tiny_run, "--seed", 3, "--image-va", "5,5")
    assert midi.content == cli_midi.read_bytes()
    assert midi.headers["content-disposition"] == 'attachment; filename="pic.mid"'
    facts = status["piece"]
    assert facts["image_va"] == [5.0, 5.0] and not facts["image_va_estimated"]
    assert len(facts["music_va"]) == 2  # rated by the small music VA predictor shipped in the package
    assert facts["generation"]["method"] == "greedy" and facts["generation"]["seed"] == 3
    assert status["image_weights"] == "none" and status["preset"] == "Trans_enc3_dec3"
    wav = client.get(status["files"]["wav"])
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
    assert client.get(status["files"]["piano_roll"]).content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(status["files"]["picture"]).content == picture.read_bytes()
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text and "http" not in page.text.split("<body>")[0]


def test_the_shipped_model_gives_the_music_of_generate_without_run(tmp_path):
    """The default decoding of the shipped model (seeded top-10 sampling, length rule) through the page."""
    from starlette.testclient import TestClient

    from img2music_tf.models import torchvision_vgg16
    from img2music_tf.pretrained import DEFAULT_GENERATION
    from img2music_tf.serve.app import create_app
    from img2music_tf.serve.jobs import Studio, load_model

    if not torchvision_vgg16.installed():
        pytest.skip(f"the shipped model needs the torchvision VGG16 weights ({torchvision_vgg16.INSTALL})")
    picture = write_picture(tmp_path / "pic.png")
    config = ServeConfig(wav=False)
    with TestClient(create_app(Studio(load_model(config), config))) as client:
        status = finished(client, post(client, picture.read_bytes(), seed="2").json()["id"])
        assert status["state"] == "done", status["error"]
        assert status["piece"]["generation"] == {**DEFAULT_GENERATION, "seed": 2}
        midi = client.get(status["files"]["midi"]).content
    assert midi == generate_cli(tmp_path, picture, "--seed", 2, "--image-va", "5,5").read_bytes()


@pytest.mark.parametrize("data, fields, status, words", [
    (b"not a picture at all", {}, 400, "pic.png is not a picture this page reads"),
    (b"", {}, 400, "pic.png is empty"),
    (noise_png(4000), {}, 413, "the limit is"),
    (None, {"va": "7"}, 400, "VA must be two numbers V,A"),
    (None, {"va": "a,b"}, 400, "VA must be two numbers V,A"),
    (None, {"va": "0,5"}, 400, "valence 0.0 is outside 1-9"),
    (None, {"seed": "-1"}, 400, "seed must lie in"),
    (None, {"tries": "many"}, 400, "tries must be a whole number"),
    (None, {"decoding": "beam"}, 400, "decoding must be one of default, greedy"),
])
def test_a_bad_upload_gets_one_line_and_the_server_keeps_serving(serve, data, fields, status, words):
    client = serve(max_upload_bytes=10_000)
    response = post(client, data, **fields)
    assert response.status_code == status
    message = response.json()["error"]
    assert words in message and "\n" not in message
    good = post(client)
    assert good.status_code == 202 and finished(client, good.json()["id"])["state"] == "done"


def test_a_picture_of_too_many_pixels_is_refused(serve, monkeypatch):
    from img2music_tf.serve import form

    monkeypatch.setattr(form, "MAX_PIXELS", 1000)
    response = post(serve(), png_bytes((40, 30)))
    assert response.status_code == 400 and response.json()["error"] == \
        "pic.png is 40 x 30 pixels; the limit is 0.001 megapixels"


def test_an_upload_without_a_picture_or_over_the_limit_before_reading(serve):
    client = serve(max_upload_bytes=10_000)
    response = client.post("/api/pieces", data={"va": "5,5"})
    assert response.status_code == 400 and "no picture" in response.json()["error"]
    huge = client.post("/api/pieces", content=b"x" * 200_000, headers={"content-type": "multipart/form-data; b=x"})
    assert huge.status_code == 413 and "the limit is 0.00953674 MB" in huge.json()["error"]


def test_files_are_served_by_id_only(serve, tmp_path):
    client = serve()
    job = finished(client, post(client, name="../../escape/..\\evil.png").json()["id"])
    assert job["state"] == "done" and job["name"] == "evil.png"
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    attempts = [
        f"/files/{job['id']}/../../../../{secret}",
        f"/files/{job['id']}/..%2F..%2F..%2F..%2F{str(secret).lstrip('/').replace('/', '%2F')}",
        f"/files/{job['id']}/%2e%2e%2f%2e%2e%2fsecret.txt",
        f"/files/{job['id']}/midi%2F..%2F..%2Fsecret.txt",
        f"/files/{job['id']}/midi/..",
        "/files/..%2F..%2F..%2Fetc%2Fpasswd/midi",
        f"/files/{job['id'].upper()}/midi",
        f"/files/{'0' * 32}/midi",
        f"/files/{job['id']}/summary.json",
        f"/files/{job['id']}/__class__",
        "/api/pieces/..%2F..%2Fetc%2Fpasswd",
        "/static/..%2F..%2F__init__.py",
        "/static/../app.py",
    ]
    for url in attempts:
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"secret" not in response.content and b"import" not in response.content, url
    download = client.get(job["files"]["midi"])
    assert download.status_code == 200 and download.headers["content-disposition"] == \
        'attachment; filename="evil.mid"'
    assert not list(tmp_path.rglob("evil*")) and not (tmp_path.parent / "escape").exists()
    spaced = finished(client, post(client, name="my photo (1).png").json()["id"])
    assert client.get(spaced["files"]["midi"]).headers["content-disposition"] == \
        'attachment; filename="my-photo-1.mid"'


def test_files_are_removed_after_their_lifetime_and_at_exit(serve):
    client = serve(file_lifetime_s=0.5)
    root = client.app.state.studio.root
    job = finished(client, post(client).json()["id"])
    assert job["state"] == "done" and client.get(job["files"]["midi"]).status_code == 200
    deadline = time.monotonic() + 10
    while client.get(f"/api/pieces/{job['id']}").status_code != 404 and time.monotonic() < deadline:
        time.sleep(0.1)
    response = client.get(f"/api/pieces/{job['id']}")
    assert response.status_code == 404 and "kept 0.00833333 minutes" in response.json()["error"]
    assert client.get(job["files"]["midi"]).status_code == 404
    assert root.is_dir() and not list(root.iterdir())
    client.__exit__(None, None, None)
    assert not root.exists()


def test_pictures_wait_in_a_queue_with_positions_and_a_full_queue_says_so(serve, monkeypatch):
    from img2music_tf.serve.jobs import Studio

    release = threading.Event()
    make = Studio._make

    def held(self, job):
        release.wait(60)
        return make(self, job)

    monkeypatch.setattr(Studio, "_make", held)
    client = serve(max_queue=2)
    ids = [post(client).json()["id"]]
    deadline = time.monotonic() + 10
    while client.get(f"/api/pieces/{ids[0]}").json()["state"] != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    ids += [post(client).json()["id"] for _ in range(2)]
    assert [client.get(f"/api/pieces/{i}").json()["position"] for i in ids] == [None, 1, 2]
    full = post(client)
    assert full.status_code == 503 and "2 pictures are waiting already" in full.json()["error"]
    release.set()
    assert [finished(client, i)["state"] for i in ids] == ["done"] * 3


def test_serve_checks_its_options(capsys):
    from img2music_tf import cli

    assert cli.main(["serve", "--max-queue", "0"]) == 2
    assert "--max-queue must be at least 1" in capsys.readouterr().err
    assert cli.main(["serve", "--run", "/nonexistent/run"]) == 2
    assert "is not a finished run folder" in capsys.readouterr().err


def test_the_serve_command_serves_and_removes_its_files_when_stopped(tiny_run, tmp_path):
    """`img2music serve` in its own process: a piece made over HTTP, then Ctrl-C: exit 130 (as every command), no file left."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import httpx2

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    server = subprocess.Popen([sys.executable, "-m", "img2music_tf", "serve", "--run", str(tiny_run), "--port",
                               str(port), "--no-wav"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + 120
            while True:
                try:
                    assert http.get("/api/model").json()["image_weights"] == "none"
                    break
                except httpx2.TransportError:
                    assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()
                    time.sleep(0.2)
            job = post(http).json()
            while job["state"] not in ("done", "failed"):
                time.sleep(0.1)
                job = http.get(f"/api/pieces/{job['id']}").json()
            assert job["state"] == "done" and list((tmp_path / "tmp").rglob("*.mid"))
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=60)[0]
    assert server.returncode == 130 and "Traceback" not in output, output  # Ctrl-C, as for every command
    assert f"on http://127.0.0.1:{port}/" in output and not list((tmp_path / "tmp").iterdir())


def test_the_music_va_comes_from_the_va_predictor_given(serve, tmp_path):
    import keras
    from conftest import SEED

    from img2music_tf.models.va_predictor import VAPredictor, VAPredictorConfig, build_va_predictor

    keras.utils.set_random_seed(SEED)
    config = VAPredictorConfig(hidden_units=(16, 8))
    model = build_va_predictor(config, [100.0, 60.0, 400.0, 50.0], [1e4, 100.0, 1e4, 400.0])
    VAPredictor(model, config).save(tmp_path / "va")
    client = serve(va_predictor=str(tmp_path / "va"))
    job = finished(client, post(client).json()["id"])
    assert job["state"] == "done", job["error"]
    assert len(job["piece"]["music_va"]) == 2 and all(isinstance(v, float) for v in job["piece"]["music_va"])
