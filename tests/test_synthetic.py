"""SynthPedes: determinism, caption truth and statistics, near-duplicates, splits, CLI."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from lightclip_core.cli import main
from lightclip_core.data import load_dataset
from lightclip_core.synthpedes.vocabulary import COLOUR_WORDS, ITEM_WORDS
from lightclip_core.synthpedes.writer import SynthConfig, contact_sheet, generate
from lightclip_core.errors import LightCLIPError

SMALL = SynthConfig(ids=60, images_per_id=3, size=(128, 64), val_ids=10, test_ids=20, seed=7)


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, SMALL, workers=1)
    return out


@pytest.fixture(scope="module", params=["classic", "varied"])
def corpus(tmp_path_factory, request) -> Path:
    """About 500 captions (126 identities x 2 pictures x 2 captions) at a tiny picture size, in the
    classic phrasings and in the varied ones (every caption test holds for both)."""
    out = tmp_path_factory.mktemp("corpus")
    generate(out, SynthConfig(ids=126, images_per_id=2, size=(64, 32), val_ids=0, test_ids=0, seed=3,
                              phrasings=request.param), workers=1)
    return out


def test_same_seed_gives_identical_files_for_any_worker_count(small, tmp_path):
    generate(tmp_path / "again", SMALL, workers=2)
    assert tree_hashes(small) == tree_hashes(tmp_path / "again")
    generate(tmp_path / "other", SynthConfig(**{**SMALL.__dict__, "seed": 8}), workers=1)
    assert tree_hashes(small) != tree_hashes(tmp_path / "other")


def test_test_split_alone_is_byte_identical_to_the_full_datasets_test_split(small, tmp_path):
    generate(tmp_path / "test_only", SMALL, splits=("test",), workers=1)
    only = json.loads((tmp_path / "test_only" / "data_captions.json").read_text())
    full = [r for r in json.loads((small / "data_captions.json").read_text()) if r["split"] == "test"]
    assert only == full
    for rec in only:
        assert (tmp_path / "test_only" / "imgs" / rec["img_path"]).read_bytes() == (small / "imgs" / rec["img_path"]).read_bytes()


def test_splits_are_identity_disjoint_with_requested_sizes_and_train_ids_first(small):
    ds = load_dataset("synthpedes", small)
    ids = {s: {x.pid for x in ds.split(s)} for s in ("train", "val", "test")}
    assert ids["train"].isdisjoint(ids["val"]) and ids["train"].isdisjoint(ids["test"]) and ids["val"].isdisjoint(ids["test"])
    assert (len(ids["train"]), len(ids["val"]), len(ids["test"])) == (30, 10, 20)
    assert ids["train"] == set(range(30))  # IRRA expects training ids 0..n-1
    assert len(ds.samples) == 60 * 3
    with Image.open(ds.samples[0].img_path) as img:
        assert img.size == (64, 128) and img.mode == "RGB"


def _identity_table(root: Path) -> dict[int, dict]:
    return {p["pid"]: p for p in json.loads((root / "attributes.json").read_text())["identities"]}


def _scan(text: str, lexicon: dict[str, tuple[str, ...]]) -> list[str]:
    """Canonical names of the lexicon phrases in `text`, longest phrases first, each span used once."""
    pairs = sorted(((w.lower(), name) for name, words in lexicon.items() for w in words), key=lambda p: -len(p[0]))
    found = []
    for word, name in pairs:
        pattern = r"(?<![\w-])" + re.escape(word) + r"(?![\w-])"
        if re.search(pattern, text):
            found.append(name)
            text = re.sub(pattern, " # ", text)
    return found


HAIR_SURFACE = {"black": ("dark",), "brown": ("dark brown",), "blonde": ("blonde", "blond", "fair"), "grey": ("silver",), "red": ("ginger",)}


def test_extra_train_ids_leave_val_test_and_base_pictures_unchanged(small, tmp_path):
    from lightclip_core.synthpedes.writer import attribute_key, make_identities

    cfg = SynthConfig(**{**SMALL.__dict__, "extra_train_ids": 40})
    generate(tmp_path / "xl", cfg, workers=2)
    generate(tmp_path / "xl_again", cfg, workers=1)  # deterministic: same seed, same extra people and pictures
    assert tree_hashes(tmp_path / "xl") == tree_hashes(tmp_path / "xl_again")
    base = {r["img_path"]: r for r in json.loads((small / "data_captions.json").read_text())}
    xl = json.loads((tmp_path / "xl" / "data_captions.json").read_text())
    extra = [r for r in xl if r["img_path"] not in base]
    # Every record and picture of the dataset without extras is still there, unchanged.
    assert [r for r in xl if r["img_path"] in base] == list(base.values())
    for name in base:
        assert (tmp_path / "xl" / "imgs" / name).read_bytes() == (small / "imgs" / name).read_bytes()
    assert {r["split"] for r in extra} == {"train"}
    assert len({r["id"] for r in extra}) == 40 and min(r["id"] for r in extra) == SMALL.ids
    # Identity-disjoint by what captions can say: no extra person repeats a val or test person.
    people, split = make_identities(cfg)
    held_out = {attribute_key(p) for p in people if split[p.pid] != "train"}
    assert not any(attribute_key(p) in held_out for p in people if p.pid >= SMALL.ids)
    twins = [p for p in people if p.pid >= SMALL.ids and p.differs_in]
    assert twins and all(people[p.twin_of].family == p.family for p in twins)
    # The loader sees them as training identities.
    ds = load_dataset("synthpedes", tmp_path / "xl")
    assert len({s.pid for s in ds.split("train")}) == SMALL.ids - SMALL.val_ids - SMALL.test_ids + 40
    # Unused, the option leaves attributes.json as it was.
    assert "extra_train_ids" not in json.loads((small / "attributes.json").read_text())["config"]
    assert json.loads((tmp_path / "xl" / "attributes.json").read_text())["config"]["extra_train_ids"] == 40


def test_extra_train_ids_reject_a_held_out_person(monkeypatch):
    """A drawn extra identity equal to a test identity is skipped, and the count is still met."""
    import lightclip_core.synthpedes.writer as synth

    cfg = SynthConfig(ids=20, images_per_id=1, size=(64, 32), val_ids=0, test_ids=20, seed=1, extra_train_ids=5)
    people, split = synth.make_identities(SynthConfig(**{**cfg.__dict__, "extra_train_ids": 0}))
    clone_of = people[0]
    real = synth.sample_identity
    cloned = []

    def first_is_a_clone(rng, pid):
        ident = real(rng, pid)
        if pid == cfg.ids and not cloned:  # the first extra draw (base draws have pids below ids)
            cloned.append(pid)
            return synth.Identity(**{**synth.asdict(clone_of), "pid": pid, "family": -1, "twin_of": -1, "differs_in": ""})
        return ident

    monkeypatch.setattr(synth, "sample_identity", first_is_a_clone)
    people2, split2 = synth.make_identities(cfg)
    extra = [p for p in people2 if p.pid >= cfg.ids]
    assert cloned and len(extra) == 5
    keys = {synth.attribute_key(p) for p in people2 if split2[p.pid] == "test"}
    assert not any(synth.attribute_key(p) in keys for p in extra)


def test_every_colour_and_item_a_caption_mentions_is_true_of_the_identity(corpus):
    people = _identity_table(corpus)
    records = json.loads((corpus / "data_captions.json").read_text())
    colour_lex = {**COLOUR_WORDS}
    for name, words in HAIR_SURFACE.items():
        colour_lex[name + "*"] = words
    checked = 0
    for rec in records:
        p = people[rec["id"]]
        colours = {p[k] for k in ("upper_colour", "lower_colour", "shoes_colour", "bag_colour", "headwear_colour", "carry_colour")}
        items = {p[k] for k in ("upper_type", "lower_type", "shoes_type", "bag", "headwear", "carry")}
        for caption in rec["captions"]:
            text = caption.lower()
            negated_bag = bool(re.search(r"not carrying a bag|has no bag", text))
            text = re.sub(r"not carrying a bag|has no bag", " ", text)
            for name in _scan(text, colour_lex):
                if name.endswith("*"):  # a hair-only word
                    assert p["hair_colour"] == name[:-1], (caption, p)
                else:
                    assert name in colours or name == p["hair_colour"], (caption, name, p)
            for item in _scan(text, ITEM_WORDS):
                assert item in items, (caption, item, p)
            assert not negated_bag or p["bag"] == "none", caption
            if "glasses" in text:
                assert p["glasses"], caption
            for style in ("ponytail", "bun", "bald"):
                if re.search(rf"\b{style}\b", text):
                    assert p["hair_style"] == style, caption
            checked += 1
    assert checked >= 500


def test_logged_facts_match_the_ground_truth(corpus):
    people = _identity_table(corpus)
    meta = json.loads((corpus / "attributes.json").read_text())
    field = {"lower": "lower_type", "shoes": "shoes_type", "bag": "bag", "headwear": "headwear", "carry": "carry"}
    records = {r["img_path"]: r for r in json.loads((corpus / "data_captions.json").read_text())}
    for rel, pic in meta["pictures"].items():
        p = people[records[rel]["id"]]
        for facts in pic["facts"]:
            for attr, value in facts:
                assert p[field.get(attr, attr)] == value, (rel, attr, value)


def test_caption_statistics(corpus):
    captions = [c for r in json.loads((corpus / "data_captions.json").read_text()) for c in r["captions"]]
    assert len(captions) >= 500
    lengths = [len(c.split()) for c in captions]
    varied = json.loads((corpus / "attributes.json").read_text())["config"].get("phrasings") == "varied"
    assert min(lengths) >= (4 if varied else 12) and max(lengths) <= 60  # varied: typed queries are short
    assert (12 if varied else 16) <= sum(lengths) / len(lengths) <= 32  # CUHK-PEDES averages ~23
    assert len(set(captions[:500])) / 500 > 0.95
    # the two captions of one picture are written independently
    pairs = [r["captions"] for r in json.loads((corpus / "data_captions.json").read_text())]
    assert sum(a != b for a, b in pairs) / len(pairs) > 0.95
    for synonym_pair in (("trousers", "pants"), ("grey", "gray"), ("backpack", "rucksack")):
        assert all(any(w in c for c in captions) for w in synonym_pair)


def test_near_duplicates_differ_in_exactly_one_attribute(corpus):
    people = _identity_table(corpus)
    groups = {
        "bag": {"bag", "bag_colour"}, "bag_type": {"bag"}, "headwear": {"headwear", "headwear_colour"},
        "carry": {"carry", "carry_colour"}, "upper_type": {"upper_type", "sleeves"},
    }
    compared = {"gender", "age", "hair_style", "hair_colour", "upper_type", "upper_colour", "upper_pattern", "sleeves",
                "lower_type", "lower_colour", "shoes_type", "shoes_colour", "bag", "bag_colour", "headwear",
                "headwear_colour", "glasses", "carry", "carry_colour"}
    twins = [p for p in people.values() if p["differs_in"]]
    assert 0.12 <= len(twins) / len(people) <= 0.4
    for t in twins:
        base = people[t["twin_of"]]
        assert base["split"] == t["split"]
        diff = {k for k in compared if base[k] != t[k]}
        assert diff and diff <= groups.get(t["differs_in"], {t["differs_in"]}), (t["differs_in"], diff)


def test_contact_sheet(tmp_path):
    out = contact_sheet(tmp_path / "sheet.png", SMALL, n_ids=3)
    with Image.open(out) as img:
        assert img.height == 3 * 128 and img.width > 3 * 64


def test_config_and_overwrite_errors(small, tmp_path, capsys):
    with pytest.raises(LightCLIPError, match="must not exceed"):
        SynthConfig(ids=10, val_ids=6, test_ids=6).check()
    with pytest.raises(LightCLIPError, match="Unknown split"):
        generate(tmp_path / "x", SMALL, splits=("dev",))
    assert main(["synth", "--out", str(small), "--ids", "60", "--val-ids", "10", "--test-ids", "20", "--json"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_synth_writes_a_loadable_dataset(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["synth", "--out", str(out), "--ids", "12", "--val-ids", "2", "--test-ids", "4",
                 "--images-per-id", "2", "--size", "96x48", "--workers", "1", "--json",
                 "--contact-sheet", str(tmp_path / "s.png"), "--sheet-ids", "2"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 24 and summary["ids"] == {"train": 6, "val": 2, "test": 4}
    assert Path(summary["contact_sheet"]).is_file()
    assert load_dataset("synthpedes", out).stats()["val"]["images"] == 4


@pytest.mark.slow
def test_bundled_gallery_is_what_the_documented_command_writes(tmp_path):
    """`python -m lightclip_core synth --out gallery --splits test` (README) reproduces gallery/.

    Text files must match exactly; pictures are compared decoded, so that another libjpeg build
    (a newer Pillow wheel) does not fail the test while any change to the drawing does.
    """
    import numpy as np

    gallery = Path(__file__).resolve().parents[1] / "gallery"
    fresh = tmp_path / "g"
    assert main(["synth", "--out", str(fresh), "--splits", "test", "--json"]) == 0
    for name in ("data_captions.json", "attributes.json"):
        assert (fresh / name).read_text() == (gallery / name).read_text(), name
    committed = sorted(p.name for p in (gallery / "imgs").iterdir())
    assert committed == sorted(p.name for p in (fresh / "imgs").iterdir())
    for name in committed:
        a = np.asarray(Image.open(gallery / "imgs" / name), dtype=np.float32)
        b = np.asarray(Image.open(fresh / "imgs" / name), dtype=np.float32)
        assert a.shape == b.shape and np.abs(a - b).mean() < 1.0, name
    size = sum(p.stat().st_size for p in gallery.rglob("*") if p.is_file())
    assert size < 15e6, f"the bundled gallery grew to {size / 1e6:.1f} MB"


def test_cli_synth_scales_unspecified_split_sizes_with_ids(tmp_path, capsys):
    # `--ids 60` alone used to fail ("250 + 500 must not exceed 60"): the splits keep the defaults'
    # proportions (1,250 / 250 / 500 of 2,000) unless given.
    code = main(["synth", "--out", str(tmp_path / "a"), "--ids", "60", "--images-per-id", "1", "--size", "64x32",
                 "--workers", "1", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["ids"] == {"train": 38, "val": 7, "test": 15}
    code = main(["synth", "--out", str(tmp_path / "b"), "--ids", "60", "--test-ids", "30", "--images-per-id", "1",
                 "--size", "64x32", "--workers", "1", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["ids"] == {"train": 23, "val": 7, "test": 30}  # explicit wins
