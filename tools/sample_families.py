"""The drawn families both sample generators plant: names, taxonomy, look and fruiting season."""

from __future__ import annotations

import dataclasses
import os

from tools.sample_drawing import FamilyStyle

SIZE = (320, 240)  # (width, height), the study's resolution


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    order: str
    genera: dict[str, tuple[str, ...]]
    style: FamilyStyle
    phylum: str = "Basidiomycota"
    class_: str = "Agaricomycetes"

    def variant(self, species: str) -> int:
        """The species' index among the family's: which of the style's cap colours its pictures get."""
        return [name for names in self.genera.values() for name in names].index(species)


FAMILIES = (
    Family("Russulaceae", "Russulales", {"Russula": ("Russula emetica", "Russula cyanoxantha"),
                                         "Lactarius": ("Lactarius deliciosus",)},
           FamilyStyle(((200, 40, 45), (180, 60, 110), (210, 90, 60)), "depressed", "smooth", stem_width=0.25)),
    Family("Boletaceae", "Boletales", {"Boletus": ("Boletus edulis",),
                                       "Xerocomellus": ("Xerocomellus dryophilus", "Xerocomellus chrysenteron")},
           FamilyStyle(((120, 75, 40), (150, 100, 55)), "bun", "pores", stem_color=(200, 180, 140),
                       stem_width=0.35, stem_height=0.8, bulb=True)),
    Family("Agaricaceae", "Agaricales", {"Agaricus": ("Agaricus campestris", "Agaricus augustus"),
                                         "Lepiota": ("Lepiota cristata",)},
           FamilyStyle(((235, 230, 215), (220, 205, 180)), "dome", "scales", ring=True, stem_width=0.18)),
    Family("Tricholomataceae", "Agaricales", {"Tricholoma": ("Tricholoma terreum", "Tricholoma equestre"),
                                              "Clitocybe": ("Clitocybe nebularis",)},
           FamilyStyle(((120, 120, 125), (150, 145, 140)), "umbo", "streaks", stem_width=0.2)),
    Family("Amanitaceae", "Agaricales", {"Amanita": ("Amanita muscaria", "Amanita pantherina", "Amanita phalloides")},
           FamilyStyle(((215, 50, 30), (160, 120, 70), (225, 120, 30)), "convex", "spots", ring=True, bulb=True,
                       stem_height=1.3, stem_width=0.15)),
    Family("Strophariaceae", "Agaricales", {"Hypholoma": ("Hypholoma fasciculare",),
                                            "Pholiota": ("Pholiota squarrosa",)},
           FamilyStyle(((225, 180, 40), (200, 140, 40)), "cluster", "smooth", stem_color=(220, 190, 110),
                       stem_width=0.15, stem_height=1.6)),
    Family("Cortinariaceae", "Agaricales", {"Cortinarius": ("Cortinarius violaceus", "Cortinarius orellanus",
                                                            "Cortinarius caperatus")},
           FamilyStyle(((110, 70, 130), (140, 70, 40), (160, 95, 45)), "bell", "fibrils", stem_color=(190, 170, 150),
                       stem_width=0.2, stem_height=1.2)),
)
RARE_FAMILIES = (
    Family("Hygrophoraceae", "Agaricales", {"Hygrocybe": ("Hygrocybe conica",)},
           FamilyStyle(((250, 150, 20),), "bell", "smooth")),
    Family("Polyporaceae", "Polyporales", {"Trametes": ("Trametes versicolor",)},
           FamilyStyle(((140, 120, 100), (90, 80, 90)), "bracket", "smooth")),
    Family("Morchellaceae", "Pezizales", {"Morchella": ("Morchella esculenta",)},
           FamilyStyle(((170, 140, 90),), "honeycomb", "pits"), phylum="Ascomycota", class_="Pezizomycetes"),
)
# Months in which each family fruits, as 12 equally likely draws (northern temperate seasons): the sample's
# dates carry the seasonality a month prior can learn. A month listed twice is twice as likely.
SEASONS = {
    "Russulaceae": (7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10),
    "Boletaceae": (6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 9, 9),
    "Agaricaceae": (5, 6, 7, 8, 9, 9, 10, 10, 10, 11, 11, 11),
    "Tricholomataceae": (10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 1, 9),
    "Amanitaceae": (7, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 6),
    "Strophariaceae": (1, 2, 3, 4, 11, 11, 11, 12, 12, 12, 10, 10),
    "Cortinariaceae": (9, 9, 9, 10, 10, 10, 10, 10, 11, 11, 11, 8),
    "Hygrophoraceae": (10, 11, 11, 11, 11, 12, 12, 12, 12, 1, 1, 9),
    "Polyporaceae": (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
    "Morchellaceae": (3, 4, 4, 4, 4, 5, 5, 5, 5, 5, 6, 6),
}


def check_sample_target(out: str, images_per_family: int, what: str) -> None:
    """A sample is written into a new or empty folder, with enough images per family for a grouped split."""
    if os.path.isdir(out) and os.listdir(out):
        raise FileExistsError(f"{out} is not empty; the {what} is written into a new or empty folder.")
    if images_per_family < 10:
        raise ValueError(f"images_per_family must be >= 10 for a grouped 64/16/20 split, got {images_per_family}")
