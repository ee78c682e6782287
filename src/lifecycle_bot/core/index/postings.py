"""Which chunks contain an identifier, without scanning them all.

The identifier boost asks, for every identifier of every question, "which chunks contain
`task_publish_max_retries` as a whole token?". A regex over every chunk answers that in time that grows
with the corpus. Here each chunk's word tokens are indexed once; a query identifier is looked up by its
rarest word, and only the chunks that hold that word are checked with the exact pattern. The answer is
the same as the scan's (the pattern decides), the cost is that of the few candidates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\w+")


def identifier_pattern(identifier: str) -> re.Pattern:
    """The identifier as a whole token, case-insensitive (text is matched lower-cased)."""
    return re.compile(r"(?<![\w])" + re.escape(identifier.lower()) + r"(?![\w])")


@dataclass
class Postings:
    """word -> indices of the chunks holding it, over lower-cased chunk texts."""

    texts: list[str]  # lower-cased, in the order the indices refer to
    words: dict[str, list[int]] = field(default_factory=dict)
    _cache: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, texts: list[str]) -> "Postings":
        words: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            for word in set(_TOKEN.findall(text)):
                words.setdefault(word, []).append(i)
        return cls(texts, words)

    def containing(self, identifier: str) -> tuple[int, ...]:
        """Indices of the chunks that contain `identifier` as a whole token (cached per identifier)."""
        key = identifier.lower()
        found = self._cache.get(key)
        if found is None:
            parts = _TOKEN.findall(key)
            if not parts:
                candidates: list[int] = list(range(len(self.texts)))  # punctuation only: rare, scan
            else:
                lists = sorted((self.words.get(p, []) for p in set(parts)), key=len)
                held = set(lists[0]).intersection(*lists[1:])  # chunks holding every word of it
                candidates = [i for i in lists[0] if i in held]
            if parts == [key]:  # one word token: its posting list is the answer, no pattern to check
                found = tuple(candidates)
            else:
                pattern = identifier_pattern(key)
                found = tuple(i for i in candidates if pattern.search(self.texts[i]))
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[key] = found
        return found
