"""A server in a background thread on a free port of 127.0.0.1, for tests and the benchmark."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator

from img2music_tf.serve.config import ServeConfig


@contextlib.contextmanager
def running_server(config: ServeConfig, start_timeout_s: float = 120.0) -> Iterator[str]:
    """Load the model, serve the page on a free port and yield its base URL; stop it (files removed) after."""
    import uvicorn

    from img2music_tf.serve.app import create_app
    from img2music_tf.serve.jobs import Studio, load_model

    studio = Studio(load_model(config), config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(studio), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="img2music-serve", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(60)
        studio.close()
        sock.close()
