"""Small text helpers shared by retrieval, answering and evaluation."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

STOPWORDS = frozenset(
    """a an and are as at be but by can could do does did for from had has have how i if in into is it its
    it's me my of on or our so than that the their them then there these they this those to was we were
    what when where which while who why will with would you your yours am been being not no yes get got
    should shall may might must just also any some all each very too more most much many about after
    before over under again once here only own same such both few other out up down off once ever""".split()
)

_WORD = re.compile(r"[A-Za-z0-9_]+(?:[.'-][A-Za-z0-9_]+)*")


_local = threading.local()


def _stemmer():
    """One PyStemmer object per thread: it "must not be called concurrently" (its docstring)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer  # PyStemmer, shipped with llama-index-retrievers-bm25

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _stemmer().stemWord(word)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def content_terms(text: str) -> list[str]:
    """Lower-cased, stemmed, stopword-free terms."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def normalise(text: str) -> str:
    """Collapse Markdown decoration and whitespace, for containment checks."""
    text = re.sub(r"[`*_>|]", " ", text)
    return re.sub(r"\s+", " ", text).strip().lower()
