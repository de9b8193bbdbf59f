"""`img2music serve`: a page on this machine that makes music from pictures, and its JSON API.

`config` (the settings), `form` (an upload checked into a `PieceRequest`), `jobs` (the queue and the one
worker that owns the loaded model), `app` (the Starlette routes), `harness` (a server in a thread, for tests
and the benchmark), `static/` (the page: HTML, JavaScript and CSS, no CDN).
"""
