"""A real, large docs corpus for `bench/scale.py`: Apache Airflow's provider documentation, and the docs
of the libraries Airflow runs on (Celery, SQLAlchemy, Django's, then NumPy, SciPy, Matplotlib, pytest, SymPy,
Sphinx and others for size), all from PyPI.

Each of these source distributions ships its Sphinx docs (reStructuredText). We fetch the newest sdist of
each package in `PACKAGES` from PyPI (the only network this project uses), keep its docs' `.rst`/`.txt`,
and convert each file to the Markdown our ingester reads: RST's underlined titles become `#` headings,
`.. code-block::` bodies become fenced code, and other directives are kept as plain text. That keeps
the sections and their sizes real, which is what a scale test of chunking, embedding and retrieval needs.

    python bench/corpus.py --out data/bench-corpus     # fetch (cached) and convert; prints the totals
"""

from __future__ import annotations

import argparse
import io
import json
import re
import tarfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PYPI = "https://pypi.org/pypi/{name}/json"

# Airflow's providers, biggest docs first (ordered so that a prefix of the list is a realistic corpus).
PROVIDERS = """
amazon google microsoft-azure cncf-kubernetes databricks snowflake celery standard common-sql fab
http ssh sftp postgres mysql docker dbt-cloud apache-spark apache-kafka apache-beam apache-hive
microsoft-mssql oracle slack smtp redis elasticsearch opensearch mongo openlineage openai cohere
pinecone weaviate qdrant pgvector yandex alibaba tableau salesforce github jenkins jdbc odbc presto
trino vertica teradata exasol influxdb neo4j arangodb apache-cassandra apache-drill apache-druid
apache-flink apache-hdfs apache-impala apache-kylin apache-livy apache-pig apache-pinot airbyte
apprise asana atlassian-jira cloudant common-compat common-io common-messaging datadog dingding
discord edge3 facebook ftp grpc hashicorp imap jenkins keycloak microsoft-psrp microsoft-winrm
mysql openfaas opsgenie pagerduty papermill segment sendgrid samba singularity sqlite tabular
telegram zendesk ydb
""".split()
# then the docs of neighbouring projects, for size: (PyPI name, folder name of the docs)
PACKAGES = [(f"apache-airflow-providers-{p}", "docs") for p in PROVIDERS] + [
    ("celery", "docs"), ("sqlalchemy", "doc"), ("django", "docs"),
    # past 66x the chunks of kb/: the scientific stack and the tools around Python's packaging and tests
    ("numpy", "doc"), ("scipy", "doc"), ("matplotlib", "doc"), ("pytest", "doc"), ("sympy", "doc"),
    ("sphinx", "doc"), ("alembic", "docs"), ("setuptools", "docs"), ("pip", "docs"), ("flask", "docs"),
    ("kombu", "docs")]


def _sdist_url(name: str) -> str | None:
    with urllib.request.urlopen(PYPI.format(name=name), timeout=60) as r:
        meta = json.load(r)
    for f in meta["urls"]:
        if f["packagetype"] == "sdist":
            url = f["url"]
            return url if url.startswith("http") else "https://pypi.org/" + url.lstrip("./")
    return None


def fetch(name: str, cache: Path) -> Path | None:
    """The package's sdist in `cache` (downloaded once)."""
    found = sorted(p for p in cache.glob("*.tar.gz") if p.name.rsplit("-", 1)[0].lower() == name.replace("-", "_"))
    if found:
        return found[-1]
    try:
        url = _sdist_url(name)
    except OSError:
        return None
    if url is None:
        return None
    dest = cache / url.rsplit("/", 1)[-1]
    with urllib.request.urlopen(url, timeout=300) as r:
        dest.write_bytes(r.read())
    return dest


_ADORN = "=-~^\"'`#*+:._"


def rst_to_markdown(text: str) -> str:
    """Titles (text underlined, optionally overlined, with one punctuation character) become `#` headings,
    in the order the adornments first appear, as RST defines levels; code-block bodies become fences."""
    lines = text.splitlines()
    levels: list[str] = []
    out: list[str] = []
    i = 0
    in_code = False
    code_indent = 0
    while i < len(lines):
        line = lines[i]
        if in_code:
            if line.strip() and (len(line) - len(line.lstrip())) < code_indent:
                out.append("```")
                in_code = False
                continue
            out.append(line[code_indent:] if line.strip() else "")
            i += 1
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        over = False
        if _is_adornment(line) and i + 2 < len(lines) and _is_adornment(lines[i + 2]) and lines[i + 1].strip():
            over, title, under = True, lines[i + 1].strip(), lines[i + 2]
        elif line.strip() and not _is_adornment(line) and _is_adornment(nxt) and len(nxt.strip()) >= len(line.strip()) - 1:
            title, under = line.strip(), nxt
        else:
            title = None
        if title is not None:
            key = ("o" if over else "") + under.strip()[0]
            if key not in levels:
                levels.append(key)
            out.append("#" * min(levels.index(key) + 1, 6) + " " + title)
            i += 3 if over else 2
            continue
        m = re.match(r"^(\s*)\.\. (?:code-block|code|sourcecode)::\s*(\S*)", line)
        if m:
            out.append(f"```{m.group(2)}")
            i += 1
            while i < len(lines) and (lines[i].strip().startswith(":") or not lines[i].strip()):
                i += 1  # options and the blank line before the body
            body = next((l for l in lines[i:] if l.strip()), "")
            code_indent = len(body) - len(body.lstrip())
            if code_indent <= len(m.group(1)):
                out.append("```")
                continue
            in_code = True
            continue
        out.append(line)
        i += 1
    if in_code:
        out.append("```")
    return "\n".join(out) + "\n"


def _is_adornment(line: str) -> bool:
    s = line.strip()
    return len(s) >= 3 and s[0] in _ADORN and s == s[0] * len(s)


def convert(sdist: Path, docs: str, target: Path) -> int:
    """Write the sdist's `<docs>/**/*.rst|txt` as Markdown under `target`; returns bytes written."""
    written = 0
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if not member.isfile() or docs not in parts[:3] or not member.name.endswith((".rst", ".txt")):
                continue
            raw = tar.extractfile(member).read().decode("utf-8", "replace")
            rel = Path(*parts[parts.index(docs) + 1 :]).with_suffix(".md")
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(rst_to_markdown(raw))
            written += dest.stat().st_size
    return written


def build(out: Path, packages: list[tuple[str, str]] = PACKAGES) -> dict[str, int]:
    """Fetch and convert every package (idempotent); returns bytes of Markdown per package, in list order."""
    cache = out.parent / f"{out.name}-sdists"
    cache.mkdir(parents=True, exist_ok=True)
    packages = list(dict.fromkeys(packages))
    with ThreadPoolExecutor(8) as pool:
        sdists = list(pool.map(lambda p: fetch(p[0], cache), packages))
    sizes: dict[str, int] = {}
    for (name, docs), sdist in zip(packages, sdists):
        if sdist is None:
            continue
        target = out / name.removeprefix("apache-airflow-providers-")
        sizes[name] = sum(p.stat().st_size for p in target.rglob("*.md")) if target.exists() else convert(sdist, docs, target)
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("data/bench-corpus"))
    args = ap.parse_args()
    sizes = build(args.out)
    print(f"{len(sizes)} packages, {sum(sizes.values()) / 1e6:.1f} MB of Markdown in {args.out}")


if __name__ == "__main__":
    main()
