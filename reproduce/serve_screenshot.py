"""The README's picture of the page: `img2music serve` (the shipped model) in headless Chromium, with two
Emotion6 photos made into music (or two built-in drawn pictures, without the archive).

    python reproduce/serve_screenshot.py [--out docs/serve.png]

Needs Chromium at /usr/bin/chromium (or $IMG2MUSIC_CHROMIUM) and Playwright (the [dev] extra).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "reproduce"))
PHOTOS = 2


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "serve.png")
    args = parser.parse_args(argv)

    from playwright.sync_api import expect, sync_playwright

    from bench_serve import pictures
    from img2music_tf.serve.config import ServeConfig
    from img2music_tf.serve.harness import running_server

    chromium = os.environ.get("IMG2MUSIC_CHROMIUM", "/usr/bin/chromium")
    with tempfile.TemporaryDirectory() as folder, running_server(ServeConfig()) as url, sync_playwright() as driver:
        paths = []
        for name, data in pictures(PHOTOS * 10)[0][3::10][:PHOTOS]:  # two emotions apart
            paths.append(Path(folder) / name)
            paths[-1].write_bytes(data)
        browser = driver.chromium.launch(executable_path=chromium)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(url)
        page.set_input_files("#pictures", [str(path) for path in paths])
        page.locator("#chosen input").first.fill("7.2,4.1")
        page.click("#make")
        for index in range(PHOTOS):
            expect(page.locator(".piece").nth(index)).to_have_attribute("data-state", "done", timeout=600_000)
        page.wait_for_function("[...document.images].every(img => img.complete)")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting(main))
