"""ToonFaces renderer, captions, storage and dataset (tiny renders, CPU, seconds)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from ganlens.cli.main import main as cli_main
from ganlens.data.toonfaces import (
    LABEL_CLASSES,
    TOONFACES_SCHEMA,
    ToonFacesDataset,
    collate_toonfaces,
    load_attributes_tensor,
    load_images_tensor,
    make_captions,
    render_dataset,
    render_toonface,
    sample_attributes,
)
from ganlens.data.toonfaces.captions import BACKGROUND_WORDS, HAIR_WORDS
from ganlens.data.toonfaces.render import BACKGROUND_RGB
from ganlens.errors import GanlensError


def _rec(seed: int) -> dict:
    return sample_attributes(np.random.default_rng(seed))


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [_rec(s) for s in range(400)]


@pytest.fixture(scope="module")
def folder_ds(tmp_path_factory):
    out = tmp_path_factory.mktemp("toon") / "folder"
    render_dataset(out, n=10, size=32, seed=100, progress=False)
    return out


def test_render_deterministic_and_seed_dependent():
    rec = _rec(3)
    a = render_toonface(rec, size=32, seed=3)
    b = render_toonface(rec, size=32, seed=3)
    assert _png(a.image) == _png(b.image)
    assert np.array_equal(a.label, b.label) and np.array_equal(a.sketch, b.sketch)
    c = render_toonface(_rec(4), size=32, seed=4)
    assert not np.array_equal(a.image, c.image)


def test_dataset_files_identical_across_runs(tmp_path, folder_ds):
    out = tmp_path / "again"
    render_dataset(out, n=10, size=32, seed=100, progress=False, workers=1)
    for sub in ("images", "labels", "sketches"):
        for i in (0, 7):
            assert (out / sub / f"{i:06d}.png").read_bytes() == (
                folder_ds / sub / f"{i:06d}.png"
            ).read_bytes()
    assert (out / "attributes.jsonl").read_bytes() == (folder_ds / "attributes.jsonl").read_bytes()
    assert (out / "captions.jsonl").read_bytes() == (folder_ds / "captions.jsonl").read_bytes()


def test_label_background_matches_image_background():
    for seed in range(12):
        rec = _rec(seed)
        r = render_toonface(rec, size=64, seed=seed)
        bg = r.label == LABEL_CLASSES.index("background")
        # interior background pixels (all 8 neighbours background too) must be the exact colour
        pad = np.pad(bg, 1, constant_values=True)
        interior = bg.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                interior &= pad[1 + dy : 65 + dy, 1 + dx : 65 + dx]
        assert interior.sum() > 200
        assert np.all(r.image[interior] == np.array(BACKGROUND_RGB[rec["background"]], dtype=np.uint8))
        # and no foreground-interior pixel has the background colour
        fg_interior = ~bg
        pad = np.pad(fg_interior, 1, constant_values=False)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                fg_interior &= pad[1 + dy : 65 + dy, 1 + dx : 65 + dx]
        same = np.all(r.image[fg_interior] == np.array(BACKGROUND_RGB[rec["background"]]), axis=-1)
        assert same.mean() < 0.02


def _boundary(label: np.ndarray) -> np.ndarray:
    b = np.zeros(label.shape, dtype=bool)
    dh = label[:, 1:] != label[:, :-1]
    dv = label[1:, :] != label[:-1, :]
    b[:, 1:] |= dh
    b[:, :-1] |= dh
    b[1:, :] |= dv
    b[:-1, :] |= dv
    return b


def _dilate(m: np.ndarray, r: int = 1) -> np.ndarray:
    pad = np.pad(m, r)
    out = np.zeros_like(m)
    h, w = m.shape
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= pad[r + dy : r + dy + h, r + dx : r + dx + w]
    return out


def test_sketch_lines_lie_on_label_boundaries():
    inner_ok = [LABEL_CLASSES.index(c) for c in ("eyes", "mouth", "hat")]  # classes with drawn inner parts
    for seed in range(12):
        r = render_toonface(_rec(seed), size=64, seed=seed)
        ink = r.sketch < 128
        near = _dilate(_boundary(r.label), 1) | np.isin(r.label, inner_ok)
        assert ink.sum() > 150
        assert (ink & ~near).sum() <= 0.01 * ink.sum(), f"seed {seed}: sketch ink away from label boundaries"
        # and the sketch covers the label boundaries
        b = _boundary(r.label)
        assert (b & _dilate(r.sketch < 200, 1)).sum() >= 0.95 * b.sum()


def test_every_factor_varies_and_changes_the_image(records):
    for f in TOONFACES_SCHEMA:
        vals = [r[f.name] for r in records if r[f.name] is not None]
        if f.categorical:
            assert set(vals) == set(f.classes), f.name
        else:
            lo, hi = f.range
            assert np.std(vals) > 0.2 * (hi - lo), f.name
    base = {
        **_rec(0),
        "hair_style": "short",
        "hair_color": "brown",
        "glasses": "none",
        "eye_color": "blue",
        "hat": "none",
        "mouth_open": "closed",
        "facial_hair": "none",
        "earrings": "no",
        "smile": 0.0,
    }
    ref = render_toonface(base, size=64, seed=0).image
    for f in TOONFACES_SCHEMA:
        alt = dict(base)
        if f.categorical:
            alt[f.name] = next(c for c in f.classes if c != base[f.name])
        else:
            lo, hi = f.range
            alt[f.name] = hi if base[f.name] < (lo + hi) / 2 else lo
        img = render_toonface(alt, size=64, seed=0).image
        assert np.abs(img.astype(int) - ref.astype(int)).sum() > 500, (
            f"changing {f.name} did not change the image"
        )


def test_conditional_factors_are_null_exactly_when_hidden(records):
    for r in records:
        assert (r["hair_color"] is None) == (r["hair_style"] == "bald")
        assert (r["eye_color"] is None) == (r["glasses"] == "sunglasses")
        TOONFACES_SCHEMA.check_record(r)


def _mentions(text: str, words) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", text) for w in words)


def test_captions_are_true_and_varied(records):
    for seed, r in enumerate(records[:300]):
        caps = make_captions(r, seed=seed)
        assert len(caps) >= 5 and len(set(caps)) == len(caps)
        for c in caps:
            t = c.lower()
            # hair colour: any "<colour> hair|curls|fringe|bangs" or "<colour>-haired" must be the true colour
            for name, words in HAIR_WORDS.items():
                for w in words:
                    if re.search(rf"\b{w}(?: hair| curls| fringe| bangs|-haired)\b", t):
                        assert r["hair_color"] == name, (c, r["hair_color"])
            if _mentions(t, ["bald", "shaved head", "no hair"]):
                assert r["hair_style"] == "bald", c
            if _mentions(t, ["long"]) and "hair" in t:
                assert r["hair_style"] == "long", c
            if _mentions(t, ["curly", "curls"]):
                assert r["hair_style"] == "curly", c
            if _mentions(t, ["bangs", "fringe"]):
                assert r["hair_style"] == "bangs", c
            for col in ("brown", "blue", "green"):
                if re.search(rf"\b{col} eyes\b", t):
                    assert r["eye_color"] == col, c
            if _mentions(t, ["sunglasses", "shades"]):
                assert r["glasses"] == "sunglasses", c
            if _mentions(t, ["round glasses", "round spectacles", "circular glasses"]):
                assert r["glasses"] == "round", c
            if _mentions(t, ["square glasses", "rectangular glasses", "square-framed glasses"]):
                assert r["glasses"] == "square", c
            if "no glasses" in t:
                assert r["glasses"] == "none", c
            if _mentions(t, ["cap", "baseball cap"]):
                assert r["hat"] == "cap", c
            if _mentions(t, ["beanie", "knit hat", "woolly hat"]):
                assert r["hat"] == "beanie", c
            if _mentions(t, ["beard", "bearded"]) and "no beard" not in t:
                assert r["facial_hair"] == "beard", c
            if _mentions(t, ["moustache", "mustache", "moustached"]):
                assert r["facial_hair"] == "moustache", c
            if _mentions(t, ["earrings"]):
                assert r["earrings"] == "yes", c
            if _mentions(t, ["smiling", "smile", "grinning"]):
                assert r["smile"] > 0.3, c
            if _mentions(t, ["frowning", "frown", "sad", "sad-looking", "unhappy"]):
                assert r["smile"] < -0.3, c
            if _mentions(t, ["open mouth", "mouth open", "parted lips"]):
                assert r["mouth_open"] == "open", c
            m = re.search(r"(?:on|against|in front of) a ([a-z ]+?) (?:background|backdrop)", t)
            if m:
                assert m.group(1) in BACKGROUND_WORDS[r["background"]], c


def test_dataset_reads_folder_and_zip(tmp_path, folder_ds):
    zout = tmp_path / "z"
    s = render_dataset(zout, n=10, size=32, seed=100, fmt="zip", progress=False)
    assert s.path.name == "toonfaces.zip" and not (zout / ".staging").exists()
    a, b = ToonFacesDataset(folder_ds), ToonFacesDataset(s.path)
    assert len(a) == len(b) == 10
    for i in (0, 9):
        x, y = a[i], b[i]
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["label"], y["label"])
        assert torch.equal(x["sketch"], y["sketch"]) and x["captions"] == y["captions"]
    item = a[3]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert item["image"].min() >= -1.0 and item["image"].max() <= 1.0
    assert item["label"].dtype == torch.long and int(item["label"].max()) < len(LABEL_CLASSES)
    assert item["sketch"].shape == (1, 32, 32) and 0.0 <= item["sketch"].min() <= item["sketch"].max() <= 1.0
    assert len(item["captions"]) >= 5
    loader = torch.utils.data.DataLoader(b, batch_size=4, collate_fn=collate_toonfaces)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["attributes"]["hat"].shape == (4,)
    imgs = load_images_tensor(s.path, progress=False)
    assert imgs.dtype == torch.uint8 and imgs.shape == (10, 3, 32, 32)
    assert torch.equal(imgs[3].float() / 127.5 - 1.0, item["image"])
    again = load_images_tensor(s.path, progress=False)  # from the cache now
    assert torch.equal(again, imgs)
    attrs = load_attributes_tensor(folder_ds)
    assert set(attrs) == set(TOONFACES_SCHEMA.names) and attrs["roll"].shape == (10,)
    only = ToonFacesDataset(folder_ds, modalities=("label",))
    assert set(only[0]) == {"index", "label"}
    with pytest.raises(GanlensError, match="modalities"):
        ToonFacesDataset(folder_ds, modalities=("image", "depth"))
    with pytest.raises(GanlensError, match="does not exist"):
        ToonFacesDataset(tmp_path / "nothing")


def test_cli_refuses_non_empty_folder_and_resumes(tmp_path, capsys):
    out = tmp_path / "cli"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["data", "toonfaces", "--n", "6", "--size", "32", "--out", str(out)]
    assert cli_main(args) == 2
    assert "not empty" in capsys.readouterr().err
    assert cli_main([*args, "--resume"]) == 2  # not a render
    assert cli_main([*args, "--overwrite"]) == 0
    assert (out / "keep.txt").read_text() == "mine"
    first = (out / "images" / "000004.png").read_bytes()
    (out / "images" / "000004.png").unlink()
    assert cli_main(args) == 2
    s = render_dataset(out, n=6, size=32, resume=True, progress=False)
    assert (s.rendered, s.skipped) == (1, 5)
    assert (out / "images" / "000004.png").read_bytes() == first
    s = render_dataset(out, n=9, size=32, resume=True, progress=False)  # grow the render
    assert (s.rendered, s.skipped) == (3, 6) and len(ToonFacesDataset(out)) == 9
    with pytest.raises(GanlensError, match="other settings"):
        render_dataset(out, n=9, size=64, resume=True, progress=False)
    assert cli_main(["data", "toonfaces", "--n", "3", "--out", str(tmp_path / "x"), "--format", "tar"]) == 2
    assert "--format 'tar'" in capsys.readouterr().err


def test_render_rejects_bad_size():
    with pytest.raises(GanlensError, match="size"):
        render_toonface(_rec(0), size=8)


def test_preview_and_factor_sweep(tmp_path, folder_ds):
    from ganlens.data.toonfaces.preview import factor_sweep, write_preview

    page = write_preview(folder_ds, tmp_path, n=4)
    html = page.read_text()
    ds = ToonFacesDataset(folder_ds)
    assert ds.captions[0][0].replace("'", "&#x27;") in html
    grid = np.asarray(Image.open(tmp_path / "preview.png"))
    assert grid.shape[1] >= 2 * 3 * 32 * 2  # two columns of image | label | sketch at zoom 2
    sweep = factor_sweep(_rec(1) | {"hair_color": "red"}, size=16, factors=["hat", "roll"], steps=4)
    assert sweep.shape[0] == 2 * 16
