"""Natural-language captions for ToonFaces records, true by construction.

Every attribute becomes a *fact* with several wordings (a noun phrase for "with ...", optionally
an adjective and a "wearing ..." form). A caption picks a random subset of facts, one wording per
fact and one sentence template, so captions vary in synonyms, word order and which attributes are
mentioned. Continuous factors are only mentioned well inside a region where the words are true
(e.g. "smiling" needs smile > 0.35), never near a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

HAIR_WORDS = {
    "black": ("black", "jet-black"),
    "brown": ("brown", "chestnut"),
    "blonde": ("blonde", "blond", "golden"),
    "red": ("red", "ginger"),
    "gray": ("gray", "grey", "silver"),
    "blue": ("blue", "dyed blue"),
}
EYE_WORDS = {"brown": ("brown",), "blue": ("blue",), "green": ("green",)}
BACKGROUND_WORDS = {
    "white": ("white", "plain white"),
    "blue": ("blue", "light blue"),
    "green": ("green", "pale green"),
    "yellow": ("yellow", "pale yellow"),
    "pink": ("pink",),
    "purple": ("purple", "lavender"),
}
NOUNS = ("person", "character", "cartoon person", "cartoon character", "toon", "figure")

# thresholds for mentioning continuous factors (kept away from the wording boundaries)
SMILE_ON, FROWN_ON, NEUTRAL_MAX = 0.35, -0.35, 0.12
BIG_EYES, SMALL_EYES = 0.72, 0.28
LIGHT_SKIN, DARK_SKIN = 0.22, 0.78
WIDE_FACE, NARROW_FACE = 0.75, 0.25
TILT_ON, FACING_MAX, TURN_ON = 10.0, 0.12, 0.65


@dataclass
class Fact:
    """One thing that is true about a face, in several wordings."""

    key: str
    nps: tuple[str, ...]  # noun phrases usable after "with" / "has"
    adjs: tuple[str, ...] = ()  # adjectives usable before the noun
    wear: bool = False  # also usable after "wearing"
    weight: float = 1.0
    tags: set[str] = field(default_factory=set)


def _a(np_: str) -> str:
    return ("an " if np_[0] in "aeiou" else "a ") + np_


def facts_for(rec: dict[str, Any]) -> list[Fact]:
    """All facts a caption may state about a record."""
    facts: list[Fact] = []
    style, color = rec["hair_style"], rec["hair_color"]
    if style == "bald":
        facts.append(Fact("hair", ("a bald head", "no hair", "a shaved head"), adjs=("bald",), weight=3))
    else:
        cs = HAIR_WORDS[color]
        if style == "short":
            nps = tuple(f"short {c} hair" for c in cs) + tuple(f"{c} hair cut short" for c in cs[:1])
        elif style == "long":
            nps = tuple(f"long {c} hair" for c in cs) + (f"{cs[0]} hair down past the shoulders",)
        elif style == "bangs":
            nps = tuple(f"{c} hair with bangs" for c in cs) + (f"a {cs[0]} fringe", f"{cs[-1]} bangs")
        else:
            nps = tuple(f"curly {c} hair" for c in cs) + (f"{cs[0]} curls",)
        adjs = (f"{cs[0]}-haired",) if style in ("short", "long") and " " not in cs[0] else ()
        facts.append(Fact("hair", nps, adjs=adjs, weight=3))
    eye_bits = []
    if rec["eye_size"] >= BIG_EYES:
        eye_bits = ["big", "large"]
    elif rec["eye_size"] <= SMALL_EYES:
        eye_bits = ["small"]
    if rec["eye_color"] is not None:
        ec = EYE_WORDS[rec["eye_color"]][0]
        nps = tuple(f"{b} {ec} eyes" for b in eye_bits) + (f"{ec} eyes",)
        facts.append(Fact("eyes", nps, weight=1.5))
    elif eye_bits:
        facts.append(Fact("eyes", tuple(f"{b} eyes" for b in eye_bits)))
    brow = {
        "straight": ("straight eyebrows", "straight brows", "flat eyebrows"),
        "arched": ("arched eyebrows", "arched brows", "curved eyebrows"),
        "slanted": ("slanted eyebrows", "angled brows", "eyebrows slanting down to the nose"),
    }
    facts.append(Fact("brows", brow[rec["brow_shape"]], weight=0.8))
    g = rec["glasses"]
    if g == "none":
        facts.append(Fact("glasses", ("no glasses",), weight=0.4))
    else:
        nps = {
            "round": ("round glasses", "round spectacles", "circular glasses"),
            "square": ("square glasses", "rectangular glasses", "square-framed glasses"),
            "sunglasses": ("sunglasses", "dark sunglasses", "shades"),
        }[g]
        facts.append(Fact("glasses", nps, wear=True, weight=2.5))
    s = rec["smile"]
    if s >= SMILE_ON:
        adjs = ("smiling", "grinning") if rec["mouth_open"] == "open" else ("smiling", "happy-looking")
        facts.append(
            Fact("smile", ("a smile", "a big smile") if s > 0.7 else ("a smile",), adjs=adjs, weight=2)
        )
    elif s <= FROWN_ON:
        facts.append(
            Fact(
                "smile",
                ("a frown", "a sad expression"),
                adjs=("frowning", "sad-looking", "unhappy"),
                weight=2,
            )
        )
    elif abs(s) <= NEUTRAL_MAX:
        facts.append(
            Fact("smile", ("a neutral expression", "a straight face"), adjs=("expressionless",), weight=0.7)
        )
    if rec["mouth_open"] == "open":
        facts.append(Fact("mouth", ("an open mouth", "the mouth open", "parted lips"), weight=1))
    else:
        facts.append(Fact("mouth", ("a closed mouth", "the mouth closed"), weight=0.5))
    fh = rec["facial_hair"]
    if fh == "beard":
        facts.append(
            Fact("facial_hair", ("a beard", "a full beard", "a thick beard"), adjs=("bearded",), weight=2)
        )
    elif fh == "moustache":
        facts.append(Fact("facial_hair", ("a moustache", "a mustache"), adjs=("moustached",), weight=2))
    else:
        facts.append(
            Fact("facial_hair", ("no beard", "a clean-shaven face"), adjs=("clean-shaven",), weight=0.5)
        )
    h = rec["hat"]
    if h == "cap":
        facts.append(Fact("hat", ("a cap", "a baseball cap"), wear=True, weight=2))
    elif h == "beanie":
        facts.append(
            Fact("hat", ("a beanie", "a knit hat", "a woolly hat with a pom-pom"), wear=True, weight=2)
        )
    else:
        facts.append(Fact("hat", ("no hat",), weight=0.4))
    if rec["earrings"] == "yes":
        facts.append(
            Fact("earrings", ("earrings", "gold earrings", "golden earrings"), wear=True, weight=1.5)
        )
    t = rec["skin_tone"]
    if t <= LIGHT_SKIN:
        facts.append(Fact("skin", ("light skin", "fair skin", "pale skin"), adjs=("pale", "fair-skinned")))
    elif t >= DARK_SKIN:
        facts.append(Fact("skin", ("dark skin", "deep brown skin"), adjs=("dark-skinned",)))
    width = ""
    if rec["face_width"] >= WIDE_FACE:
        width = "wide "
    elif rec["face_width"] <= NARROW_FACE:
        width = "narrow "
    shape = {"oval": "oval", "square": "square", "heart": "heart-shaped"}[rec["face_shape"]]
    nps = (_a(f"{width}{shape} face"), _a(f"{shape} face"))
    if width:
        nps += (_a(f"{width}face"),)
    facts.append(Fact("face", nps, weight=0.8))
    if abs(rec["roll"]) >= TILT_ON:
        facts.append(Fact("pose", ("the head tilted", "a tilted head"), adjs=("head-tilting",), weight=0.8))
    elif abs(rec["yaw"]) <= FACING_MAX and abs(rec["roll"]) <= 4:
        facts.append(Fact("pose", ("the head facing forward",), adjs=("front-facing",), weight=0.5))
    elif abs(rec["yaw"]) >= TURN_ON:
        facts.append(Fact("pose", ("the head turned to one side", "the face turned sideways"), weight=0.6))
    return facts


def _join(items: list[str], rng: np.random.Generator) -> str:
    if len(items) == 1:
        return items[0]
    sep = ", and " if (len(items) > 2 and rng.random() < 0.5) else " and "
    return ", ".join(items[:-1]) + sep + items[-1]


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def make_caption(rec: dict[str, Any], rng: np.random.Generator) -> str:
    """One caption: a random subset of the record's facts in a random template."""
    facts = facts_for(rec)
    w = np.array([f.weight for f in facts], dtype=np.float64)
    k = int(rng.integers(2, min(6, len(facts)) + 1))
    chosen = [facts[i] for i in sorted(rng.choice(len(facts), size=k, replace=False, p=w / w.sum()))]
    order = rng.permutation(len(chosen))
    chosen = [chosen[i] for i in order]
    noun = _pick(NOUNS, rng)
    adjs: list[str] = []
    withs: list[str] = []
    wears: list[str] = []
    use_wear = rng.random() < 0.5
    for f in chosen:
        if f.adjs and len(adjs) < 2 and rng.random() < 0.5:
            adjs.append(_pick(f.adjs, rng))
        elif f.wear and use_wear:
            wears.append(_pick(f.nps, rng))
        else:
            withs.append(_pick(f.nps, rng))
    bg = ""
    if rng.random() < 0.45:
        word = _pick(BACKGROUND_WORDS[rec["background"]], rng)
        bg = _pick(
            (f"on a {word} background", f"against a {word} backdrop", f"in front of a {word} background"), rng
        )
    subject = _a(" ".join(adjs + [noun]))
    template = int(rng.integers(5))
    if template == 3 and len(withs) + len(wears) < 2:
        template = 0
    if template == 0 or (not withs and not wears):
        parts = [subject]
        if wears:
            parts.append("wearing " + _join(wears, rng))
        if withs:
            parts.append("with " + _join(withs, rng))
        text = " ".join(parts) if len(parts) < 3 else f"{parts[0]} {parts[1]}, {parts[2]}"
    elif template == 1:
        has = withs + wears
        text = f"this {' '.join(adjs + [noun])} has {_join(has, rng)}"
    elif template == 2:
        text = f"a portrait of {subject}"
        if withs:
            text += " with " + _join(withs, rng)
        if wears:
            text += (", " if withs else " ") + "wearing " + _join(wears, rng)
    elif template == 3:
        items = withs + wears
        text = f"{_join(items, rng)}: {subject}"
    else:
        text = f"{subject} with {_join(withs, rng)}" if withs else subject
        if wears:
            text += f". The {noun} is wearing {_join(wears, rng)}"
    if bg:
        text += ("," if rng.random() < 0.3 else "") + " " + bg
    text = text[0].upper() + text[1:]
    return text + "." if not text.endswith(".") else text


def make_captions(rec: dict[str, Any], *, seed: int, n: int = 6) -> list[str]:
    """``n`` distinct captions for a record (deterministic for a seed)."""
    rng = np.random.default_rng([int(seed), 11])
    out: list[str] = []
    for _ in range(n * 20):
        c = make_caption(rec, rng)
        if c not in out:
            out.append(c)
        if len(out) == n:
            break
    return out
