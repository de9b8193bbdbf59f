"""Every data source on tiny files the tests make: labels, bad files skipped with reasons, RGB conversion."""

import pytest
from data_fixtures import make_emotion6, make_eimg, write_image, write_midi
from PIL import Image

from img2music_tf.data import builtin, checks, eimg, emid, emotion6, folder
from img2music_tf.errors import UserError


def _reasons(result):
    return {s.item: s.reason for s in result.skipped}


@pytest.mark.parametrize("formulas", [False, True])
def test_eimg_reads_two_header_rows_and_reports_bad_ratings(tmp_path, formulas):
    result = eimg.load(make_eimg(tmp_path / "eimg", formulas=formulas))
    items = {item.id: item for item in result.items}
    assert sorted(items) == ["0001", "0002", "0003", "0004"]
    assert items["0001"].valence == pytest.approx(7.3333333) and items["0001"].arousal == pytest.approx(7.5)
    assert items["0001"].path.is_file() and items["0001"].path.suffix == ".mid"
    if formulas:  # no stored means: averages of the valid 1-9 raw ratings, typos left out
        assert (items["0003"].valence, items["0003"].arousal) == pytest.approx((25 / 6, 5.0))
        assert (items["0004"].valence, items["0004"].arousal) == pytest.approx((3.5, 38 / 6))
    else:  # the published means are used as they are
        assert (items["0004"].valence, items["0004"].arousal) == pytest.approx((3.2, 6.3333333))
    bad = [w for w in result.warnings if "is not 1-9" in w]
    assert len(bad) == 3
    assert any("0003.mid" in w and "Arousal rating '0'" in w for w in bad)
    assert any("0004.mid" in w and "rating 10" in w for w in bad) and any("'4`'" in w for w in bad)
    reasons = _reasons(result)
    assert reasons["0005"].startswith("unreadable MIDI")
    assert reasons["0006"] == "in labels.xlsx but no MIDI file"
    assert reasons["0007"] == "no row in labels.xlsx"
    assert any("sha256 differs" in w for w in result.warnings)  # not the published files


def test_eimg_accepts_the_zip_path_and_the_env_var(tmp_path, monkeypatch):
    source = make_eimg(tmp_path / "eimg")
    assert len(eimg.load(source / "dataset.zip").items) == 4
    monkeypatch.setenv(eimg.ENV_VAR, str(source))
    assert len(eimg.load().items) == 4


def test_eimg_labels_without_mean_columns_is_a_user_error(tmp_path):
    import openpyxl

    source = make_eimg(tmp_path / "eimg")
    workbook = openpyxl.Workbook()
    for row in (["File name", "Annotator1", None], [None, "Valence", "Arousal"], ["0001.mid", 5, 5]):
        workbook.active.append(row)
    workbook.save(source / "labels.xlsx")
    with pytest.raises(UserError, match="Valence_Mean"):
        eimg.load(source)
    (source / "labels.xlsx").write_bytes(b"not a workbook")
    with pytest.raises(UserError, match="cannot read"):
        eimg.load(source)


def _check_emotion6(result):
    items = {item.id: item for item in result.items}
    assert sorted(items) == ["anger_1", "anger_2", "fear_1", "fear_2", "joy_1", "joy_2"]
    assert (items["joy_1"].valence, items["joy_1"].arousal) == (8.0, 4.5)
    for item in items.values():
        with Image.open(item.path) as image:
            assert image.mode == "RGB"
    reasons = _reasons(result)
    assert reasons["sadness_1"].startswith("unreadable image")
    assert "missing" in reasons["sadness_2"]
    assert "outside 1-9" in reasons["sadness_3"]


def test_emotion6_from_zip_and_from_folder(tmp_path):
    archive = make_emotion6(tmp_path)
    _check_emotion6(emotion6.load(archive))
    _check_emotion6(emotion6.load(tmp_path / "Emotion6"))


def test_rgb_image_converts_modes_and_reads_by_content(tmp_path):
    rgb = write_image(tmp_path / "plain.jpg")
    assert checks.rgb_image(rgb) == rgb  # already RGB: used in place
    png_named_jpg = write_image(tmp_path / "png.jpg", fmt="PNG")
    assert checks.rgb_image(png_named_jpg) == png_named_jpg
    transparent = write_image(tmp_path / "alpha.png", mode="RGBA", fmt="PNG")
    with Image.open(checks.rgb_image(transparent)) as image:
        assert image.mode == "RGB"
        assert image.getpixel((0, 0)) == (255, 255, 255)  # alpha 0 composited on white
        assert image.getpixel((15, 0))[1] < 60  # nearly opaque red stays red
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(checks.UnusableFile, match="unreadable image"):
        checks.rgb_image(tmp_path / "text.jpg")


def test_check_midi(tmp_path):
    checks.check_midi(write_midi(tmp_path / "ok.mid"))
    with pytest.raises(checks.UnusableFile, match="no notes"):
        checks.check_midi(write_midi(tmp_path / "empty.mid", notes=False))
    (tmp_path / "bad.mid").write_bytes(b"")
    with pytest.raises(checks.UnusableFile, match="unreadable MIDI"):
        checks.check_midi(tmp_path / "bad.mid")


def _emid_manifest(path, rows):
    header = "Audio_Filename,genre,Image1_filename,Image1_tag,Image2_filename,Image2_tag,Image3_filename,Image3_tag"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_emid_maps_mikels_tags_to_warriner_va(tmp_path):
    write_image(tmp_path / "imgs" / "awe_0001.jpg")
    write_image(tmp_path / "imgs" / "sub" / "fear_0002.jpg", mode="L")
    write_image(tmp_path / "imgs" / "anger_0003.jpg")
    manifest = _emid_manifest(tmp_path / "EMID_data.csv", [
        "a.mp3,K,awe_0001.jpg,awe,fear_0002.jpg,fear,gone_0009.jpg,sadness",
        "b.mp3,K,awe_0001.jpg,Awe,anger_0003.jpg,anger,anger_0003.jpg,anger",
    ])
    result = emid.load(manifest)
    items = {item.id: item for item in result.items}
    assert sorted(items) == ["anger_0003", "awe_0001", "fear_0002"]  # listed twice, counted once
    assert (items["awe_0001"].valence, items["awe_0001"].arousal) == (6.85, 3.83)
    assert (items["fear_0002"].valence, items["fear_0002"].arousal) == (2.93, 6.14)
    assert "not found" in _reasons(result)["gone_0009"]
    assert len(emid.load(tmp_path).items) == 3  # a folder holding EMID_data.csv


def test_emid_unknown_tag_names_it_and_the_known_ones(tmp_path):
    manifest = _emid_manifest(tmp_path / "EMID_data.csv", ["a.mp3,K,x.jpg,joy,y.jpg,awe,z.jpg,awe"])
    with pytest.raises(UserError) as error:
        emid.load(manifest)
    message = str(error.value)
    assert "'joy'" in message
    assert all(tag in message for tag in emid.MIKELS_VA)
    assert len(emid.MIKELS_VA) == 8


def test_emid_without_source_says_how(monkeypatch):
    monkeypatch.delenv(emid.ENV_VAR, raising=False)
    with pytest.raises(UserError, match="cannot be downloaded"):
        emid.load()


def test_folder_source_music_and_images(tmp_path):
    write_midi(tmp_path / "songs" / "a.mid")
    write_midi(tmp_path / "songs" / "silent.mid", notes=False)
    write_image(tmp_path / "pics" / "b.png", mode="L", fmt="PNG")
    (tmp_path / "labels.csv").write_text(
        "path,valence,arousal\n"
        "songs/a.mid,6.5,3\nsongs/silent.mid,5,5\npics/b.png,2,8\nsongs/missing.mid,5,5\nsongs/a.mid,1,1\n"
    )
    result = folder.load(tmp_path)
    assert [(i.id, i.valence, i.arousal) for i in result.items] == [("pics/b", 2.0, 8.0), ("songs/a", 6.5, 3.0)]
    with Image.open(result.items[0].path) as image:
        assert image.mode == "RGB"
    reasons = [s.reason for s in result.skipped]
    assert any("no notes" in r for r in reasons) and any("not found" in r for r in reasons)
    assert any("listed twice" in r for r in reasons)
    # as music, an image file is an unreadable MIDI
    assert {i.id for i in folder.load(tmp_path / "labels.csv", kind="music").items} == {"songs/a"}


def test_folder_source_bad_values_and_header(tmp_path):
    write_image(tmp_path / "a.png", fmt="PNG")
    write_image(tmp_path / "b.png", fmt="PNG")
    (tmp_path / "labels.csv").write_text("path,valence,arousal\na.png,0.5,3\nb.png,five,3\n")
    reasons = [s.reason for s in folder.load(tmp_path).skipped]
    assert any("outside 1-9" in r for r in reasons) and any("not a number" in r for r in reasons)
    (tmp_path / "labels.csv").write_text("file,v,a\n")
    with pytest.raises(UserError, match="missing column"):
        folder.load(tmp_path)


def test_builtin_images_are_seeded_and_labelled_by_brightness_and_saturation(tmp_path):
    first = builtin.load(tmp_path / "one", kind="image", n=5)
    again = builtin.load(tmp_path / "two", kind="image", n=3)
    assert len(first.items) == 5
    assert [(i.id, i.valence, i.arousal) for i in again.items] == [(i.id, i.valence, i.arousal) for i in first.items[:3]]
    assert (tmp_path / "one" / "image" / "img0000.png").read_bytes() == (tmp_path / "two" / "image" / "img0000.png").read_bytes()
    for item in first.items:
        assert 1 <= item.valence <= 9 and 1 <= item.arousal <= 9
        with Image.open(item.path) as image:
            assert image.mode == "RGB"


def test_builtin_va_rules_follow_the_cited_findings():
    assert builtin.image_va(1.0, 0.0)[0] > builtin.image_va(0.2, 0.0)[0]  # brighter -> more pleasant
    assert builtin.image_va(0.5, 1.0)[1] > builtin.image_va(0.5, 0.1)[1]  # more saturated -> more arousing
    assert builtin.image_va(0.0, 0.0) == (1.0, pytest.approx(1 + 8 * 0.31 / 0.91))
    assert builtin.music_va(True, 100, 5)[0] > builtin.music_va(False, 100, 5)[0]  # major -> higher valence
    assert builtin.music_va(True, 150, 5)[1] > builtin.music_va(True, 80, 5)[1]  # faster -> higher arousal
    assert builtin.music_va(True, 100, 9)[1] > builtin.music_va(True, 100, 3)[1]  # denser -> higher arousal
    c_major = [60, 62, 64, 65, 67, 69, 71, 72, 64, 67, 60]
    a_minor = [57, 59, 60, 62, 64, 65, 68, 69, 60, 64, 57]
    import numpy as np

    assert builtin.is_major(np.array(c_major), np.ones(len(c_major)))
    assert not builtin.is_major(np.array(a_minor), np.ones(len(a_minor)))


def test_builtin_music_is_corpus_midi_and_cached(tmp_path):
    result = builtin.load(tmp_path, kind="music", n=4)
    assert len(result.items) == 4
    assert {i.id.split("-")[0] for i in result.items} == {"bach", "ryans"}
    for item in result.items:
        checks.check_midi(item.path)
        assert 1 <= item.valence <= 9 and 1 <= item.arousal <= 9
    stamp = result.items[0].path.stat().st_mtime_ns
    assert builtin.load(tmp_path, kind="music", n=4).items == result.items  # second load reads the cache
    assert result.items[0].path.stat().st_mtime_ns == stamp


def _transparent_pictures(folder):
    """32x32 pictures whose left half is fully transparent red and right half opaque: RGBA, LA, palette."""
    import numpy as np

    alpha = np.zeros((32, 32), np.uint8)
    alpha[:, 16:] = 255
    rgba = np.dstack([np.full((32, 32), 200, np.uint8), np.zeros((32, 32, 2), np.uint8), alpha])
    pictures = {"RGBA": Image.fromarray(rgba, "RGBA"), "LA": Image.fromarray(rgba, "RGBA").convert("LA")}
    palette = Image.fromarray(np.where(alpha > 0, 1, 0).astype(np.uint8), "P")
    palette.putpalette([200, 0, 0, 10, 20, 200])
    palette.info["transparency"] = 0
    pictures["P"] = palette
    for mode, image in pictures.items():
        image.save(folder / f"{mode}.png")
    return {mode: folder / f"{mode}.png" for mode in pictures}


def test_transparency_is_composited_on_white_the_same_way_everywhere(tmp_path):
    import numpy as np

    from img2music_tf.image_va import rule_va
    from img2music_tf.models.image_encoder import load_image

    for mode, path in _transparent_pictures(tmp_path).items():
        with Image.open(path) as image:
            assert image.mode == mode
            expected = np.asarray(checks.to_rgb(image))  # (32, 32, 3)
        assert (expected[:, :16] == 255).all() and not (expected[:, 16:] == 255).all()  # on white, not black
        with Image.open(checks.rgb_image(path)) as cached:
            np.testing.assert_array_equal(np.asarray(cached), expected)
        np.testing.assert_array_equal(load_image(path, 32), expected)
        Image.fromarray(expected).save(tmp_path / "as_rgb.png")
        assert rule_va(path) == rule_va(tmp_path / "as_rgb.png")


@pytest.mark.parametrize(("mode", "suffix"), [("I;16", ".png"), ("I", ".tif")])  # Pillow writes no mode I PNG
def test_16_bit_pictures_are_scaled_to_8_bits_not_clipped(tmp_path, mode, suffix):
    import numpy as np

    from img2music_tf.models.image_encoder import load_image

    levels = np.array([[0, 257 * 64, 257 * 128, 65535]] * 4)  # (4, 4): black, dark, mid and white grey
    image = Image.fromarray(levels.astype(np.uint16 if mode == "I;16" else np.int32))
    assert image.mode == mode
    np.testing.assert_array_equal(np.asarray(checks.to_rgb(image))[0], [[0] * 3, [64] * 3, [128] * 3, [255] * 3])
    path = tmp_path / f"grey16{suffix}"
    image.save(path)
    np.testing.assert_array_equal(load_image(path, 4)[0, :, 0], [0, 64, 128, 255])
    with Image.open(checks.rgb_image(path)) as cached:
        np.testing.assert_array_equal(np.asarray(cached)[0, :, 0], [0, 64, 128, 255])


@pytest.mark.parametrize("content", [
    "path,valence,arousal\ncaf\xe9.png,5,5\n".encode("latin-1"),  # Latin-1, not UTF-8
    bytes(range(256)) * 4,  # binary
    b"\x00\x01\x02" * 100,  # binary that happens to decode as UTF-8
])
def test_folder_source_csv_that_is_not_utf8_text(tmp_path, content):
    (tmp_path / "labels.csv").write_bytes(content)
    with pytest.raises(UserError, match="labels.csv") as error:
        folder.load(tmp_path)
    assert "\n" not in str(error.value)
