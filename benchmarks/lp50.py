"""LP50 relevance benchmark (Lee, Pincombe & Welsh, 2005).

50 short ABC news articles with averaged human similarity ratings for all
1,225 unordered pairs, plus 300 background articles from the same source that
can be used to fit IDF statistics.

Data
----
The three data files ship inside the gensim 4.4.0 wheel under
``gensim/test/test_data/``.  This module fetches that wheel with
``python -m pip download`` (no gensim import, no gensim install), copies the
three files out of the zip, verifies their SHA-256 and caches them:

* ``lee.cor`` -- 50 articles, one per line, Latin-1 encoded (one ``\\xa3``
  pound sign), no trailing newline after the last line.
* ``lee_background.cor`` -- 300 articles, one per line (ASCII).
* ``similarities0-1.txt`` -- a 50x50 tab-separated matrix: diagonal 1,
  upper triangle holds the mean human rating rescaled to 0.2..1.0
  (1,225 values), lower triangle is all 0.

Cache directory, first match wins: the ``cache_dir`` argument (CLI
``--cache-dir``), ``$RECSYS_CACHE_DIR/lp50``, ``~/.cache/recsys/lp50``.

Metrics
-------
* ``pearson_pairs`` -- Pearson r over the 1,225 upper-triangle pairs.
* ``ndcg_at_k`` -- for each article, rank the other 49 by predicted score
  (ties broken by lower index first), gain ``(h - 0.2) / 0.8`` from the human
  rating ``h`` (so "unrelated" gains 0), discount ``1 / log2(rank + 1)``,
  ideal DCG from the true ratings; mean over the 50 articles.

Semantic channel
----------------
With the optional extra ``recsys[semantic]`` installed, the run adds
all-MiniLM-L6-v2 alone, the TF-IDF + MiniLM 50/50 reference, and recsys with
``semantic_model="minilm"``: at the fixed weight w = 0.5, and with w chosen by
cross-validation (``cross_validate``): 5 folds of 10 articles, w picked from
0, 0.1, ..., 1 by Pearson + nDCG@10 on the pairs and rows of the 40 other
articles only, then scored on the held-out articles' rows (their pairs with
all 49 others); the mean over the folds, over 20 random splits.

Usage::

    python -m benchmarks.lp50 [--cache-dir DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from recsys.evaluation import ndcg_at_k as recsys_ndcg

N_DOCS = 50
N_BACKGROUND = 300
N_PAIRS = N_DOCS * (N_DOCS - 1) // 2  # 1225

GENSIM_VERSION = "4.4.0"
WHEEL_DATA_DIR = "gensim/test/test_data/"
FILES = {
    "lee.cor": "a878f9a58f6743c32985c56c2f2f75988386216b38a4023a01fd3bcf7884d93e",
    "lee_background.cor": "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb",
    "similarities0-1.txt": "23762bc6b728897144dda3d324a2c032dc1e059e1009806226d64b6dd123ed79",
}

# Published / agreed reference rows: (model, Pearson, nDCG@10); None = not given.
REFERENCE_ROWS = [
    ("random", 0.00, 0.33),
    ("sklearn TF-IDF defaults", 0.54, None),
    ("TF-IDF + stop words + sublinear tf + stemming", 0.60, 0.70),
    ("all-MiniLM-L6-v2 alone", 0.66, 0.79),
    ("TF-IDF-stem + MiniLM, 50/50", 0.70, 0.80),
]
REPRO_TOLERANCE = 0.02
SEMANTIC_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))  # the grid cross-validation picks from
FIXED_WEIGHT = 0.3   # the default semantic_weight (recsys.config.DEFAULT_SEMANTIC_WEIGHT)
CV_FOLDS, CV_REPEATS = 5, 20


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def default_cache_dir() -> Path:
    root = os.environ.get("RECSYS_CACHE_DIR")
    if root:
        return Path(root).expanduser() / "lp50"
    return Path.home() / ".cache" / "recsys" / "lp50"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cache_is_complete(cache: Path) -> bool:
    for name, digest in FILES.items():
        path = cache / name
        if not path.is_file() or _sha256(path.read_bytes()) != digest:
            return False
    return True


def _pip_download_wheel(dest: str) -> Path:
    """Download the gensim wheel (only the wheel, no dependencies) into dest."""
    base = [sys.executable, "-m", "pip", "download", f"gensim=={GENSIM_VERSION}",
            "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
            "-d", dest]
    attempts = [
        base,
        # The data files are identical in every platform wheel; if this
        # interpreter/platform has no matching wheel, ask for a fixed one.
        base + ["--python-version", "3.11", "--implementation", "cp",
                "--platform", "manylinux_2_28_x86_64"],
    ]
    errors = []
    for cmd in attempts:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(dest).glob(f"gensim-{GENSIM_VERSION}-*.whl"))
        if proc.returncode == 0 and wheels:
            return wheels[0]
        errors.append(proc.stderr.strip()[-2000:])
    raise RuntimeError("could not download the gensim %s wheel with pip:\n%s"
                       % (GENSIM_VERSION, "\n---\n".join(errors)))


def fetch_lp50(cache_dir: str | os.PathLike | None = None) -> Path:
    """Make sure the three LP50 files are in the cache; return the cache dir."""
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    if _cache_is_complete(cache):
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lp50-") as tmp:
        wheel = _pip_download_wheel(tmp)
        with zipfile.ZipFile(wheel) as zf:
            for name, digest in FILES.items():
                data = zf.read(WHEEL_DATA_DIR + name)
                if _sha256(data) != digest:
                    raise RuntimeError(f"{name} from {wheel.name} has an unexpected checksum")
                part = cache / (name + ".part")
                part.write_bytes(data)
                os.replace(part, cache / name)
    return cache


def _read_lines(path: Path) -> list[str]:
    # Latin-1 as in gensim's own Lee test; split on "\n" only (str.splitlines
    # would also split on characters such as \x85 or \x0c).
    text = path.read_bytes().decode("latin-1")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def load_lp50(cache_dir: str | os.PathLike | None = None):
    """Return (docs, background, sims).

    docs: the 50 rated articles; background: the 300 background articles;
    sims: 50x50 symmetric float array of human ratings (0.2..1.0), diagonal 1.0.
    """
    cache = fetch_lp50(cache_dir)
    docs = _read_lines(cache / "lee.cor")
    background = _read_lines(cache / "lee_background.cor")
    raw = np.loadtxt(cache / "similarities0-1.txt", delimiter="\t", dtype=float)

    if len(docs) != N_DOCS or len(background) != N_BACKGROUND:
        raise ValueError(f"expected {N_DOCS}+{N_BACKGROUND} docs, got "
                         f"{len(docs)}+{len(background)}")
    if raw.shape != (N_DOCS, N_DOCS):
        raise ValueError(f"similarity matrix has shape {raw.shape}")
    iu = np.triu_indices(N_DOCS, 1)
    upper = raw[iu]
    if upper.size != N_PAIRS or np.any(upper < 0.2 - 1e-6) or np.any(upper > 1.0 + 1e-6):
        raise ValueError("upper triangle is not 1225 ratings in [0.2, 1.0]")
    if np.any(raw[np.tril_indices(N_DOCS, -1)] != 0):
        raise ValueError("expected an empty lower triangle")

    sims = np.zeros((N_DOCS, N_DOCS))
    sims[iu] = upper
    sims = sims + sims.T
    np.fill_diagonal(sims, 1.0)
    return docs, background, sims


# --------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------

def _check_square(a, name):
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {a.shape}")
    return a


def pearson_pairs(sims_true, sims_pred) -> float:
    """Pearson r between true and predicted scores over upper-triangle pairs."""
    t = _check_square(sims_true, "sims_true")
    p = _check_square(sims_pred, "sims_pred")
    if t.shape != p.shape:
        raise ValueError(f"shape mismatch {t.shape} vs {p.shape}")
    iu = np.triu_indices(t.shape[0], 1)
    x = t[iu] - t[iu].mean()
    y = p[iu] - p[iu].mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    if denom == 0 or not np.isfinite(denom):
        return float("nan")
    return float((x * y).sum() / denom)


def ndcg_at_k(sims_true, sims_pred, k: int = 10, rows=None) -> float:
    """Mean nDCG@k over articles (those in ``rows``, default all); each article ranks all the others.

    Ranking: predicted score descending, ties by lower index (deterministic);
    NaN predictions rank last.  Gain: (h - 0.2) / 0.8, clipped at 0.
    Discount: 1 / log2(rank + 1), rank starting at 1.  Articles whose ideal
    DCG is 0 (every other article rated unrelated) are skipped.
    """
    t = _check_square(sims_true, "sims_true")
    p = _check_square(sims_pred, "sims_pred")
    if t.shape != p.shape:
        raise ValueError(f"shape mismatch {t.shape} vs {p.shape}")
    n = t.shape[0]
    p = np.where(np.isnan(p), -np.inf, p)
    scores = []
    for i in (range(n) if rows is None else rows):
        others = np.array([j for j in range(n) if j != i])
        gains = np.clip((t[i, others] - 0.2) / 0.8, 0.0, None)
        if not gains.any():
            continue
        # lexsort: last key is primary -> sort by -score, then by index.
        ranked = others[np.lexsort((others, -p[i, others]))].tolist()
        scores.append(recsys_ndcg(ranked, dict(zip(others.tolist(), gains.tolist())), i, k))
    return float(np.mean(scores)) if scores else float("nan")


def pearson_rows(sims_true, sims_pred, rows) -> float:
    """Pearson r over the pairs that involve at least one article of ``rows``."""
    t = _check_square(sims_true, "sims_true")
    p = _check_square(sims_pred, "sims_pred")
    touched = np.zeros(t.shape[0], dtype=bool)
    touched[list(rows)] = True
    iu = np.triu_indices(t.shape[0], 1)
    keep = touched[iu[0]] | touched[iu[1]]
    x, y = t[iu][keep], p[iu][keep]
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def cross_validate(sims_true, preds: dict, folds: int = CV_FOLDS, repeats: int = CV_REPEATS,
                   seed: int = 0) -> dict:
    """Held-out scores of the weight chosen on the other folds.

    ``preds`` maps each candidate weight to its predicted matrix. For each of ``repeats`` random
    splits of the articles into ``folds`` folds, the weight with the best Pearson + nDCG@10 on the
    other folds' articles (their pairs and rows among themselves only) is scored on the held-out
    articles' rows; returns the mean and standard deviation over the splits of the fold means, and
    how often each weight was chosen.
    """
    t = _check_square(sims_true, "sims_true")
    n = t.shape[0]
    rng = np.random.default_rng(seed)
    pearsons, ndcgs, chosen = [], [], {}
    for _ in range(repeats):
        split = np.array_split(rng.permutation(n), folds)
        fold_r, fold_n = [], []
        for held in split:
            train = np.setdiff1d(np.arange(n), held)
            sub = np.ix_(train, train)

            def objective(w):
                return pearson_pairs(t[sub], preds[w][sub]) + ndcg_at_k(t[sub], preds[w][sub], k=10)

            best = max(sorted(preds), key=objective)
            chosen[best] = chosen.get(best, 0) + 1
            fold_r.append(pearson_rows(t, preds[best], held))
            fold_n.append(ndcg_at_k(t, preds[best], k=10, rows=held))
        pearsons.append(np.mean(fold_r))
        ndcgs.append(np.mean(fold_n))
    return {"pearson": float(np.mean(pearsons)), "pearson_sd": float(np.std(pearsons)),
            "ndcg10": float(np.mean(ndcgs)), "ndcg10_sd": float(np.std(ndcgs)),
            "chosen": {str(w): c for w, c in sorted(chosen.items())}, "folds": folds, "repeats": repeats}


# --------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")  # sklearn's default token_pattern


def _cosine_matrix(X) -> np.ndarray:
    """Cosine similarity of the rows of a (sparse) matrix."""
    from sklearn.preprocessing import normalize
    Xn = normalize(X, norm="l2", axis=1)
    sim = Xn @ Xn.T
    sim = sim.toarray() if hasattr(sim, "toarray") else np.asarray(sim)
    return np.asarray(sim, dtype=float)


def random_matrix(n: int = N_DOCS, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = rng.random((n, n))
    return (r + r.T) / 2.0


def random_scores(sims_true, seeds=range(20)):
    """Mean (Pearson, nDCG@10) of random symmetric predictions over seeds."""
    n = np.asarray(sims_true).shape[0]
    rs, ns = [], []
    for s in seeds:
        pred = random_matrix(n, s)
        rs.append(pearson_pairs(sims_true, pred))
        ns.append(ndcg_at_k(sims_true, pred))
    return float(np.mean(rs)), float(np.mean(ns))


def sklearn_default_matrix(docs, background=None) -> np.ndarray:
    """Cosine over ``TfidfVectorizer()``; IDF fitted on docs (+ background)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    vec = TfidfVectorizer()
    vec.fit(list(background or []) + list(docs))
    return _cosine_matrix(vec.transform(docs))


def make_stem_analyzer(stop_words=True):
    """Lowercase, sklearn tokens, drop sklearn English stop words, Snowball stem."""
    import Stemmer
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    stemmer = Stemmer.Stemmer("english")
    stop = ENGLISH_STOP_WORDS if stop_words else frozenset()

    def analyze(text: str) -> list[str]:
        tokens = [t for t in _TOKEN_RE.findall(text.lower()) if t not in stop]
        return stemmer.stemWords(tokens)

    return analyze


def tfidf_stem_matrix(docs, background=None) -> np.ndarray:
    """TF-IDF with stop words, sublinear tf and Snowball stemming; cosine.

    IDF is fitted on background + docs.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    vec = TfidfVectorizer(analyzer=make_stem_analyzer(), sublinear_tf=True)
    vec.fit(list(background or []) + list(docs))
    return _cosine_matrix(vec.transform(docs))


# --------------------------------------------------------------------------
# Hook for the project's own engine
# --------------------------------------------------------------------------

def import_recsys():
    """Return the ``recsys`` module, or None if it cannot be imported."""
    try:
        import recsys  # noqa: F401
        return recsys
    except ImportError:
        pass
    # Not installed: try a src/ layout next to this benchmarks/ directory.
    src = Path(__file__).resolve().parents[1] / "src"
    if (src / "recsys").is_dir() and str(src) not in sys.path:
        sys.path.insert(0, str(src))
        try:
            import recsys  # noqa: F401
            return recsys
        except ImportError:
            pass
    return None


def recsys_index(docs, background, method: str, **params):
    """A ``recsys.RelatedIndex`` of the rated and background articles, blend off."""
    import recsys
    arts = ([{"id": f"lp-{i}", "body": text, "section": "lp50"}
             for i, text in enumerate(docs)]
            + [{"id": f"bg-{j}", "body": text, "section": "background"}
               for j, text in enumerate(background)])
    return recsys.RelatedIndex.build(arts, method=method, popularity_weight=0.0,
                                     freshness_weight=0.0, **params)


def recsys_matrix(docs, background, method: str, **params) -> np.ndarray:
    """Predicted 50x50 matrix from ``recsys.RelatedIndex`` hits (see index_matrix)."""
    return index_matrix(recsys_index(docs, background, method, **params), len(docs))


def index_matrix(index, n: int) -> np.ndarray:
    """Predicted n x n matrix from an index's related lists of the rated articles.

    Pairs that are not returned score 0; s(a, b) and s(b, a) are averaged.
    The diagonal is NaN (ignored by the metrics).
    """
    pred = np.zeros((n, n))
    for i in range(n):
        for hit in index.related(f"lp-{i}", k=n - 1, section="lp50"):
            hid = str(hit.id)
            if not hid.startswith("lp-"):
                continue
            j = int(hid[3:])
            if j != i:
                pred[i, j] = float(hit.score)
    pred = (pred + pred.T) / 2.0
    np.fill_diagonal(pred, np.nan)
    return pred


def minilm_missing() -> str | None:
    """Why the MiniLM rows cannot run (the optional extra is not installed), or None."""
    try:
        from recsys.analysis import embedding as _embedding
    except ImportError:
        return "recsys is not importable"
    missing = _embedding.missing_packages()
    return f"needs recsys[semantic] ({', '.join(missing)} missing)" if missing else None


def minilm_matrix(docs) -> np.ndarray:
    """Cosine of the articles' all-MiniLM-L6-v2 embeddings, as recsys computes them."""
    from recsys.analysis import embedding as _embedding
    embeddings = _embedding.encode(docs).astype(float)
    pred = embeddings @ embeddings.T
    np.fill_diagonal(pred, np.nan)
    return pred


def semantic_matrices(docs, background, model: str, weights=SEMANTIC_WEIGHTS, **params) -> dict:
    """recsys (tfidf defaults) with ``semantic_model=model``, a predicted matrix per semantic weight.
    The articles are embedded once; each weight is a rebuild that reuses the embeddings."""
    base = recsys_index(docs, background, "tfidf", semantic_model=model, semantic_weight=FIXED_WEIGHT,
                        **params)
    return {w: index_matrix(base if w == FIXED_WEIGHT else base.compacted(semantic_weight=w), len(docs))
            for w in weights}


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------

def evaluate(cache_dir=None, log=print) -> dict:
    docs, background, sims = load_lp50(cache_dir)
    rows = []

    def add(model, pred=None, scores=None, reference=None, note=""):
        if scores is None:
            scores = (pearson_pairs(sims, pred), ndcg_at_k(sims, pred, k=10))
        rows.append({"model": model, "pearson": scores[0], "ndcg10": scores[1],
                     "reference": reference, "note": note})

    add("random (mean of 20 seeds)", scores=random_scores(sims, range(20)),
        reference="random")
    add("sklearn TfidfVectorizer(), IDF on 50 docs",
        sklearn_default_matrix(docs, None))
    add("sklearn TfidfVectorizer(), IDF on 300 bg + 50 docs",
        sklearn_default_matrix(docs, background), reference="sklearn TF-IDF defaults")
    add("TF-IDF + stop + sublinear + stem, IDF on 300 bg + 50 docs",
        tfidf_stem_matrix(docs, background),
        reference="TF-IDF + stop words + sublinear tf + stemming")

    recsys = import_recsys()
    if recsys is None or not hasattr(recsys, "RelatedIndex"):
        recsys = None
        log("recsys: not importable (or has no RelatedIndex) -- engine rows skipped")
    else:
        add("recsys tfidf, lexical channel alone (semantic_weight=0)",
            recsys_matrix(docs, background, "tfidf", semantic_weight=0.0))
        add("recsys bm25, lexical channel alone (semantic_weight=0)",
            recsys_matrix(docs, background, "bm25", semantic_weight=0.0))
        add("recsys defaults (static channel, semantic_weight="
            f"{recsys.config.DEFAULT_SEMANTIC_WEIGHT})", recsys_matrix(docs, background, "tfidf"))
    semantic = {}
    if recsys is not None:
        semantic["static, no feedback"] = _channel_rows(docs, background, sims, add, "static",
                                                        semantic_feedback=0.0)
        semantic["static"] = _channel_rows(docs, background, sims, add, "static")
    why = minilm_missing() if recsys is not None else "recsys is not importable"
    if why:
        log(f"MiniLM rows skipped: {why}")
    else:
        minilm = minilm_matrix(docs)
        add("all-MiniLM-L6-v2 cosine alone", minilm, reference="all-MiniLM-L6-v2 alone")
        add("TF-IDF-stem (as above) + MiniLM cosine, 50/50",
            0.5 * tfidf_stem_matrix(docs, background) + 0.5 * minilm,
            reference="TF-IDF-stem + MiniLM, 50/50")
        semantic["minilm"] = _channel_rows(docs, background, sims, add, "minilm")

    checks = []
    measured = {r["reference"]: r for r in rows if r["reference"]}
    for ref_name, ref_r, ref_n in REFERENCE_ROWS:
        row = measured.get(ref_name)
        ok = row is not None
        if ok and ref_r is not None:
            ok = abs(row["pearson"] - ref_r) <= REPRO_TOLERANCE
        if ok and ref_n is not None:
            ok = abs(row["ndcg10"] - ref_n) <= REPRO_TOLERANCE
        checks.append({"reference": ref_name, "pearson": ref_r, "ndcg10": ref_n,
                       "measured_by": row["model"] if row else None,
                       "reproduced": bool(ok) if row else None})
    return {"benchmark": "LP50 (Lee, Pincombe & Welsh 2005)", "n_docs": len(docs),
            "n_background": len(background), "n_pairs": N_PAIRS,
            "tolerance": REPRO_TOLERANCE, "rows": rows, "checks": checks, "semantic": semantic}


def _channel_rows(docs, background, sims, add, model: str, **params) -> dict:
    """The rows of recsys with ``semantic_model=model``: at the fixed weight, and at the weight
    chosen by cross-validation (held out); returns the CV details and the in-sample grid."""
    label = f"recsys tfidf + semantic_model={model}" + "".join(f", {k}={v}" for k, v in params.items())
    preds = semantic_matrices(docs, background, model, **params)
    add(f"{label}, w={FIXED_WEIGHT} (fixed)", preds[FIXED_WEIGHT])
    cv = cross_validate(sims, preds)
    add(f"{label}, w by {cv['folds']}-fold CV (held out)", scores=(cv["pearson"], cv["ndcg10"]),
        note=f"sd {cv['pearson_sd']:.3f} / {cv['ndcg10_sd']:.3f} over {cv['repeats']} splits")
    grid = {str(w): {"pearson": pearson_pairs(sims, p), "ndcg10": ndcg_at_k(sims, p, k=10)}
            for w, p in preds.items()}
    return {"cv": cv, "grid_in_sample": grid}


def _fmt(x) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def format_table(result: dict) -> str:
    lines = []
    body = [(f"[ref] {name}", _fmt(r), _fmt(n)) for name, r, n in REFERENCE_ROWS]
    body += [(row["model"] + (f"  ({row['note']})" if row["note"] else ""),
              _fmt(row["pearson"]), _fmt(row["ndcg10"])) for row in result["rows"]]
    w = max(len("model"), *(len(b[0]) for b in body))
    lines.append(f"{'model':<{w}} | Pearson | nDCG@10")
    lines.append(f"{'-' * w}-|---------|--------")
    for i, (m, r, n) in enumerate(body):
        if i == len(REFERENCE_ROWS):
            lines.append(f"{'-' * w}-|---------|--------")
        lines.append(f"{m:<{w}} | {r:>7} | {n:>7}")
    lines.append("")
    for c in result["checks"]:
        if c["reproduced"] is None:
            lines.append(f"{c['reference']}: not measured in this run")
            continue
        status = "reproduced" if c["reproduced"] else "NOT reproduced"
        lines.append(f"{c['reference']}: {status} (±{result['tolerance']}) by "
                     f"{c['measured_by']!r}")
    for model, semantic in (result.get("semantic") or {}).items():
        cv = semantic["cv"]
        chosen = ", ".join(f"w={w}: {n}" for w, n in cv["chosen"].items())
        lines += ["", f"{model}: cross-validation ({cv['folds']} folds x {cv['repeats']} splits): held-out "
                      f"Pearson {cv['pearson']:.3f} (sd {cv['pearson_sd']:.3f}), nDCG@10 "
                      f"{cv['ndcg10']:.3f} (sd {cv['ndcg10_sd']:.3f}); weights chosen: {chosen}",
                  "semantic_weight grid, all 50 articles (in-sample, for reference only):",
                  "  w    | Pearson | nDCG@10"]
        lines += [f"  {w:<4} | {g['pearson']:>7.3f} | {g['ndcg10']:>7.3f}"
                  for w, g in semantic["grid_in_sample"].items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.lp50", description=__doc__.split("\n")[0])
    ap.add_argument("--cache-dir", default=None,
                    help="directory holding the LP50 files (default: $RECSYS_CACHE_DIR/lp50 "
                         "or ~/.cache/recsys/lp50)")
    ap.add_argument("--json", dest="json_out", default=None, metavar="OUT",
                    help="also write the results as JSON to this file")
    args = ap.parse_args(argv)

    result = evaluate(args.cache_dir)
    print(format_table(result))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
