"""The page of `img2music serve` in a real browser: headless Chromium from the system's packages, driven by
Playwright, on the shipped model. `make test-browser` installs Chromium (Debian: `apt-get install chromium`)."""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import numpy as np
import pytest

from img2music_tf.serve.config import ServeConfig

pytestmark = pytest.mark.browser
CHROMIUM = Path(os.environ.get("IMG2MUSIC_CHROMIUM", "/usr/bin/chromium"))
MADE_S = 300  # a piece's longest wait, start-up included, on a loaded 2-core machine


@pytest.fixture(scope="module")
def base_url():
    from img2music_tf.models import torchvision_vgg16
    from img2music_tf.serve.harness import running_server

    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (make test-browser does it) "
                    "or set IMG2MUSIC_CHROMIUM")
    pytest.importorskip("playwright", reason="pip install playwright (the [dev] extra)")
    if not torchvision_vgg16.installed():
        pytest.skip(f"the shipped model needs the torchvision VGG16 weights ({torchvision_vgg16.INSTALL})")
    with running_server(ServeConfig()) as url:
        yield url


@pytest.fixture
def page(base_url):
    """A page of the server; it asks nothing of any other address (no CDN: the page works offline)."""
    from playwright.sync_api import sync_playwright

    outside = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(base_url=base_url)
            page.on("request", lambda asked: None if asked.url.startswith(base_url) else outside.append(asked.url))
            page.goto("/")
            yield page
        finally:
            browser.close()
    assert outside == []


def picture(path: Path, colour) -> Path:
    from PIL import Image

    gradient = np.linspace(0, 1, 96)[None, :, None] * np.array(colour)[None, None, :]  # (1, 96, 3)
    Image.fromarray(np.repeat(gradient, 64, axis=0).astype(np.uint8)).save(path)
    return path


def make_music(page, path: Path, va: str = ""):
    """Choose `path`, give its VA, press the button; the piece's card once the browser can play its audio."""
    from playwright.sync_api import expect

    cards = page.locator(".piece").count()
    page.set_input_files("#pictures", str(path))
    page.locator("#chosen input").fill(va)
    page.click("#make")
    card = page.locator(".piece").nth(cards)
    expect(card).to_have_attribute("data-state", "done", timeout=MADE_S * 1000)
    page.wait_for_function("card => card.querySelector('audio').readyState >= 3", arg=card.element_handle(),
                           timeout=60_000)
    return card


def check_music(page, card) -> None:
    """The card's WAV has sound and its MIDI has notes, as the page says."""
    import pretty_midi

    wav = page.request.get(card.locator("a.wav").get_attribute("href")).body()
    with wave.open(io.BytesIO(wav)) as audio:
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype=np.int16)
    assert np.abs(samples).max() > 1000
    midi = pretty_midi.PrettyMIDI(io.BytesIO(page.request.get(card.locator("a.midi").get_attribute("href")).body()))
    notes = sum(len(instrument.notes) for instrument in midi.instruments)
    assert notes > 0 and card.locator(".facts").inner_text().startswith(f"{notes} notes, ")


def test_pictures_become_music_in_the_page(page, tmp_path):
    from playwright.sync_api import expect

    expect(page.locator("#model")).to_contain_text("image weights torchvision")
    first = make_music(page, picture(tmp_path / "warm.png", (250, 160, 40)), va="6.5,3.2")
    check_music(page, first)
    expect(first.locator(".va")).to_contain_text("Picture VA V 6.50 A 3.20;")
    expect(first.locator(".made")).to_contain_text("the model shipped in the package")
    assert first.locator("img.roll").evaluate("img => img.complete && img.naturalWidth > 0")

    second = make_music(page, picture(tmp_path / "cold.png", (30, 80, 220)))
    check_music(page, second)
    expect(second.locator(".va")).to_contain_text("(estimated)")
    assert page.locator(".piece").count() == 2 and first.get_attribute("data-state") == "done"


def test_a_bad_file_or_va_is_said_on_the_page_and_the_page_keeps_working(page, tmp_path):
    from playwright.sync_api import expect

    (tmp_path / "notes.txt").write_text("not a picture")
    page.set_input_files("#pictures", str(tmp_path / "notes.txt"))
    page.click("#make")
    expect(page.locator(".piece").nth(0)).to_have_attribute("data-state", "failed")
    expect(page.locator(".piece .state").nth(0)).to_have_text(
        "notes.txt is not a picture this page reads (JPEG, PNG, GIF, BMP, WebP, TIFF)")

    page.set_input_files("#pictures", str(picture(tmp_path / "grey.png", (120, 120, 120))))
    page.locator("#chosen input").fill("12,3")
    page.click("#make")
    expect(page.locator(".piece .state").nth(1)).to_have_text(
        "VA must be two numbers V,A between 1 and 9: valence 12.0 is outside 1-9")
    check_music(page, make_music(page, tmp_path / "grey.png"))


def test_two_pictures_dropped_at_once_each_get_their_music(page, tmp_path):
    import base64

    from playwright.sync_api import expect

    files = [(path.name, base64.b64encode(path.read_bytes()).decode()) for path in (
        picture(tmp_path / "red.png", (230, 40, 40)), picture(tmp_path / "green.png", (40, 200, 60)))]
    dropped = page.evaluate_handle("""files => {
        const transfer = new DataTransfer();
        for (const [name, data] of files) {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            transfer.items.add(new File([bytes], name, {type: "image/png"}));
        }
        return transfer;
    }""", files)
    page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    expect(page.locator("#chosen li")).to_have_count(2)
    page.click("#make")
    for index, name in enumerate(("red.png", "green.png")):
        card = page.locator(".piece").nth(index)
        expect(card.locator(".name")).to_have_text(name)
        expect(card).to_have_attribute("data-state", "done", timeout=MADE_S * 1000)
        check_music(page, card)
