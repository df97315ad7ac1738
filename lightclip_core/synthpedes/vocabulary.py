"""SynthPedes' vocabulary: the attributes people have (colours, garments, bags, hair, views) and the
words captions use for them. A leaf: it imports nothing of the package."""

from __future__ import annotations





VERSION = 1

# --------------------------------------------------------------------------------------------------
# Attribute vocabulary
# --------------------------------------------------------------------------------------------------

# Base RGB of each colour name; every picture draws its own shade around it (see `shade`).
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (196, 32, 38),
    "blue": (38, 84, 196),
    "navy": (28, 36, 86),
    "light blue": (138, 184, 228),
    "green": (42, 136, 62),
    "yellow": (232, 204, 44),
    "orange": (236, 128, 34),
    "pink": (236, 150, 186),
    "purple": (116, 52, 146),
    "brown": (108, 70, 42),
    "black": (28, 28, 31),
    "white": (236, 236, 232),
    "grey": (126, 126, 128),
    "beige": (212, 192, 156),
}
HAIR_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (24, 20, 18),
    "brown": (88, 56, 32),
    "blonde": (214, 178, 96),
    "grey": (150, 148, 144),
    "red": (160, 66, 30),
}
SKIN_TONES = [(241, 206, 178), (224, 178, 140), (196, 144, 104), (150, 100, 66), (102, 66, 44)]

GENDERS = ("man", "woman")
AGES = ("young", "adult", "elderly")
HAIR_STYLES = ("short", "long", "ponytail", "bun", "bald")
UPPER_TYPES = ("t-shirt", "shirt", "jacket", "coat", "hoodie", "sweater", "dress")
LOWER_TYPES = ("trousers", "jeans", "shorts", "skirt")
SHOE_TYPES = ("sneakers", "boots", "shoes", "sandals")
BAG_TYPES = ("backpack", "handbag", "shoulder bag", "none")
HEADWEAR = ("hat", "cap", "none")
CARRY = ("umbrella", "phone", "none")
PATTERNS = ("plain", "striped", "checked")
VIEWS = ("front", "back", "left", "right")

# Attributes a near-duplicate may change (one of them, nothing else).
MUTABLE = (
    "upper_colour",
    "lower_colour",
    "shoes_colour",
    "bag",
    "bag_colour",
    "hair_colour",
    "headwear",
    "glasses",
    "upper_pattern",
    "carry",
    "upper_type",
    "lower_type",
)


COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red",),
    "blue": ("blue",),
    "navy": ("navy", "navy blue", "dark blue"),
    "light blue": ("light blue", "pale blue", "sky blue"),
    "green": ("green",),
    "yellow": ("yellow",),
    "orange": ("orange",),
    "pink": ("pink",),
    "purple": ("purple", "violet"),
    "brown": ("brown",),
    "black": ("black",),
    "white": ("white",),
    "grey": ("grey", "gray"),
    "beige": ("beige", "tan", "cream"),
}
HAIR_WORDS: dict[str, tuple[str, ...]] = {
    "black": ("black", "dark"),
    "brown": ("brown", "dark brown"),
    "blonde": ("blonde", "blond", "fair"),
    "grey": ("grey", "gray", "silver"),
    "red": ("red", "ginger"),
}
ITEM_WORDS: dict[str, tuple[str, ...]] = {
    "t-shirt": ("t-shirt", "T-shirt", "tee", "tee shirt"),
    "shirt": ("shirt", "button-up shirt", "collared shirt"),
    "jacket": ("jacket", "zip-up jacket"),
    "coat": ("coat", "long coat", "overcoat"),
    "hoodie": ("hoodie", "hooded sweatshirt", "hooded top"),
    "sweater": ("sweater", "jumper", "pullover"),
    "dress": ("dress", "knee-length dress"),
    "trousers": ("trousers", "pants", "slacks"),
    "jeans": ("jeans", "denim jeans"),
    "shorts": ("shorts",),
    "skirt": ("skirt", "knee-length skirt"),
    "sneakers": ("sneakers", "trainers", "running shoes"),
    "boots": ("boots", "ankle boots"),
    "shoes": ("shoes", "leather shoes"),
    "sandals": ("sandals",),
    "backpack": ("backpack", "rucksack"),
    "handbag": ("handbag", "purse"),
    "shoulder bag": ("shoulder bag", "messenger bag", "crossbody bag"),
    "hat": ("hat",),
    "cap": ("cap", "baseball cap"),
    "umbrella": ("umbrella",),
    "phone": ("phone", "cell phone", "mobile phone"),
}
PLURAL_ITEMS = {"trousers", "jeans", "shorts", "sneakers", "boots", "shoes", "sandals"}
PATTERN_WORDS = {"striped": ("striped", "stripy"), "checked": ("checked", "plaid", "checkered")}
NOUNS = {
    ("man", "young"): ("young man", "man", "guy", "boy", "male"),
    ("man", "adult"): ("man", "guy", "gentleman", "male", "person"),
    ("man", "elderly"): ("old man", "elderly man", "older gentleman", "man"),
    ("woman", "young"): ("young woman", "woman", "girl", "lady", "female"),
    ("woman", "adult"): ("woman", "lady", "female", "person"),
    ("woman", "elderly"): ("old woman", "elderly woman", "older lady", "woman"),
}
PRONOUNS = {"man": ("he", "his", "him"), "woman": ("she", "her", "her")}
