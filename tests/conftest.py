import json
from pathlib import Path

import pytest

import recsys
from recsys.cli import sample_corpus_path


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return Path(str(sample_corpus_path()))


@pytest.fixture(scope="session")
def sample_articles(sample_path) -> list[dict]:
    return [json.loads(line) for line in sample_path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def sample_index(sample_path) -> recsys.RelatedIndex:
    return recsys.RelatedIndex.build(sample_path)


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path
