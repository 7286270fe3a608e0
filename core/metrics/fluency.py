"""Fluency of generated text (ROME/ICE): weighted n-gram entropy, and PPL_r's ratio.

fluency = mean(2/3·H2, 4/3·H3) × 100, where Hn is the entropy in bits of the frequency
distribution of the text's word n-grams. Repetitive text has few distinct n-grams and
a low score; it does not penalise nonsense, which is why ICE adds PPL_r.
"""

from __future__ import annotations

import math
import re
from collections import Counter

_WORD = re.compile(r"\w+|[^\w\s]")
_WEIGHTS = {2: 2 / 3, 3: 4 / 3}


def words(text: str) -> list[str]:
    """Word and punctuation tokens, a stand-in for NLTK's word_tokenize."""
    return _WORD.findall(text)


def ngram_entropy(tokens: list[str], n: int) -> float:
    """Entropy in bits of the n-gram frequency distribution (0 for fewer than n tokens)."""
    counts = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


def fluency(text: str) -> float:
    """mean(2/3·H2, 4/3·H3) of the text's words, ×100 as papers report it."""
    tokens = words(text)
    weighted = [w * ngram_entropy(tokens, n) for n, w in _WEIGHTS.items()]
    return 100.0 * sum(weighted) / len(weighted)


def diversity(text: str) -> float | None:
    """Fluency as a share of the most a text of this length can score (every n-gram distinct):
    1.0 for text that never repeats itself, less the more it loops; None below three words.
    Fluency grows with length, so an edit whose new answer ends the sentence sooner scored as
    damage (audit of 2026-12-06: "…payment in the country of Pakistan." → "…in the Euro.");
    this share does not, and still falls when an edit makes the model repeat itself."""
    count = len(words(text))
    if count < 3:
        return None
    ceiling = 100.0 * sum(w * math.log2(count - n + 1) for n, w in _WEIGHTS.items()) / len(_WEIGHTS)
    return fluency(text) / ceiling


def perplexity_ratio(continuation_nll: float, prefix_nll: float) -> float:
    """ICE's PPL_r = PPL(x | q, x*) / PPL(q, x*) from the two mean per-token NLLs."""
    return math.exp(continuation_nll - prefix_nll)
