"""The one tokenizer: words, stemmed terms, exact identifiers and sentences.

Retrieval (identifier boost), composition (unit scoring), the citation check of generated answers (exact
tokens), ingestion (sentence units) and the eval metrics (key facts) all tokenize here.
"""

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


def terms(text: str, keep: frozenset[str] = frozenset(), min_length: int = 2) -> list[str]:
    """Lower-cased, stemmed terms without stopwords (except those in `keep`) and shorter words."""
    return [stem(w) for w in words(text) if (w not in STOPWORDS or w in keep) and len(w) >= min_length]


def content_terms(text: str) -> list[str]:
    """Lower-cased, stemmed, stopword-free terms of two characters or more."""
    return terms(text)


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"(\[*])")


def sentences(text: str) -> list[str]:
    """Split prose at sentence ends (a full stop, ! or ? followed by a capital, a backtick, quote or bracket)."""
    return _SENTENCE.split(text)


# -- identifiers: tokens worth matching verbatim ---------------------------------------------------

_BACKTICK = re.compile(r"`([^`\n]{2,80})`")
_IDENT = re.compile(
    r"(?<![\w.-])("
    r"\[[a-z_]+\]"  # [kubernetes_executor]
    r"|--[a-z][\w-]+"  # --min-pending-minutes
    r"|[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+(?:\(\))?"  # dotted.names, module.func()
    r"|[A-Za-z]*_[\w]+(?:\(\))?"  # snake_case, _private
    r"|[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+|[A-Z]{2,}[a-z]+[A-Za-z]*"  # CamelCase, OOMKilled
    r"|[a-z]+[A-Z][A-Za-z]+"  # camelCase
    r"|\b(?:4\d\d|5\d\d|137|143)\b"  # HTTP status, exit codes
    r"|[A-Z][A-Z0-9_]{3,}"  # CONSTANTS like QUEUED, AIRFLOW_IS_K8S_EXECUTOR_POD
    r")(?![\w-])"
)
_COMMON_UPPER = {"WHAT", "WHEN", "WHERE", "THE", "HELP", "WHY", "HOW", "THIS", "THAT", "PLEASE", "NOTE", "TODO"}


def identifiers(text: str) -> list[str]:
    """Exact tokens worth matching verbatim (config keys, reasons, codes, methods)."""
    found: list[str] = []
    for m in _BACKTICK.finditer(text):
        found.append(m.group(1).strip())
    for m in _IDENT.finditer(text):
        token = m.group(1).rstrip("()")
        if token.upper() in _COMMON_UPPER or len(token) < 3:
            continue
        found.append(token)
    seen: set[str] = set()
    out = []
    for token in found:
        key = token.lower()
        if key not in seen:
            seen.add(key)
            out.append(token)
    return out


# Tokens that must appear verbatim in the passage a sentence cites: numbers, snake_case keys,
# CamelCase reasons (OOMKilled, ErrImagePull), dotted or slashed names, anything in backticks.
_EXACT = re.compile(r"`([^`\n]+)`|\b(\d+(?:\.\d+)*)\b|\b([A-Za-z0-9]*(?:_[A-Za-z0-9]+)+)\b"
                    r"|\b([A-Za-z]*[a-z][A-Z][A-Za-z0-9]*|[A-Z]{2,}[a-z][A-Za-z0-9]*)\b")


def exact_tokens(text: str) -> list[str]:
    out = []
    for groups in _EXACT.findall(text):
        token = next(g for g in groups if g).strip().lower()
        if token and token not in out:
            out.append(token)
    return out



def normalise(text: str) -> str:
    """Collapse Markdown decoration and whitespace, for containment checks."""
    text = re.sub(r"[`*_>|]", " ", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def idf_table(texts) -> dict[str, float]:
    """Inverse document frequency of each content term over `texts` (one document each)."""
    import math
    from collections import Counter

    df: Counter = Counter()
    n = 0
    for text in texts:
        df.update(set(content_terms(text)))
        n += 1
    n = max(n, 1)
    return {t: math.log(1 + n / c) for t, c in df.items()}
