"""The on-disk index: a self-describing directory of .npy arrays and JSON, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .._files import replace_atomically, sync, sync_directory, write_synced
from ..config import IndexConfig
from ..errors import IndexFormatError, ParameterError
from .checks import check_index
from .columns import ArticleStore
from .data import IndexData, Postings
from .dense import DenseIndex
from .generations import current
from .rows import Rows

FORMAT_NAME = "recsys-index"
FORMAT_VERSION = 4  # 2: term postings in impact order (largest weight first); 3: query_tf only when read;
# 4: the rows' term ids in 16 bits where they fit (index.rows)
READABLE_VERSIONS = (2, 3, 4)  # a version 2 index always has query_tf; 2 and 3 keep int32 term ids, read into a 4's
MANIFEST = "manifest.json"
EDITORIAL = "editorial.json"  # pins and blocks: changed in place, so not among the checksummed files


def save_index(data: IndexData, path: Path) -> Path:
    """Write ``data`` (an IndexData) to directory ``path``, replacing what was there only once complete."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ParameterError(f"{path}: exists and is not a directory")
    if path.exists() and not (path / MANIFEST).exists() and any(path.iterdir()):
        raise ParameterError(f"{path}: exists and is not a recsys index; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; an index is read by the service's user too
        files = {}
        for name, array in _arrays(data).items():
            with open(tmp / f"{name}.npy", "wb") as handle:
                np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
                sync(handle)
            files[f"{name}.npy"] = None
        for name, value in _json_parts(data).items():
            write_synced(tmp / f"{name}.json", json.dumps(value, ensure_ascii=False))
            files[f"{name}.json"] = None
        manifest = {
            "format": FORMAT_NAME, "version": FORMAT_VERSION,
            "counts": {"articles": len(data.store), "vocabulary": len(data.vocabulary),
                       "nonzeros": int(len(data.rows.data))},
            "avgdl": data.avgdl, "config": data.config.to_dict(),
            "files": {name: _sha256(tmp / name) for name in sorted(files)},
        }
        write_synced(tmp / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
        write_synced(tmp / EDITORIAL, json.dumps(data.editorial, ensure_ascii=False))
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_index(path: Path, *, mmap: bool = True, verify: bool = True) -> IndexData:
    """Read an index directory; raise IndexFormatError naming the file that is missing, foreign or corrupt."""
    path = current(path)  # the generation the pointer file names, if any
    manifest = read_manifest(path)
    if verify:
        for name, digest in manifest["files"].items():
            file = path / name
            if not file.exists():
                raise IndexFormatError(f"{file}: missing from the index directory")
            if _sha256(file) != digest:
                raise IndexFormatError(f"{file}: checksum mismatch (the file is corrupted or was modified)")
    mode = "r" if mmap else None

    def array(name: str) -> np.ndarray:
        try:
            loaded = np.load(path / f"{name}.npy", mmap_mode=mode, allow_pickle=False)
            return loaded.view(np.ndarray)  # still backed by the mapping, without memmap's per-slice cost
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"{path / (name + '.npy')}: unreadable array: {exc}") from None

    def optional(name: str) -> np.ndarray | None:
        return array(name) if f"{name}.npy" in manifest["files"] else None

    def parts(name: str):
        try:
            return json.loads((path / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"{path / (name + '.json')}: unreadable JSON: {exc}") from None

    try:
        config = IndexConfig.from_dict(manifest["config"])
    except (ParameterError, KeyError, TypeError) as exc:
        raise IndexFormatError(f"{path / MANIFEST}: invalid config: {exc}") from None
    store = ArticleStore(**{name: parts(f"articles_{name}") for name in ArticleStore.NAMES},
                         **{name: array(f"articles_{name}") for name in ArticleStore.ARRAYS})
    data = IndexData(
        config=config, vocabulary=parts("vocabulary"), df=array("df"), idf=array("idf"),
        avgdl=float(manifest["avgdl"]),
        rows=_rows(array, manifest["version"]),
        query_tf=optional("query_tf"),
        columns=Postings(array("columns_indptr"), array("columns_indices"), array("columns_data")),
        term_max=array("term_max"),
        self_scores=array("self_scores"), neighbor_rows=array("neighbor_rows"),
        neighbor_sims=array("neighbor_sims"), duplicate_group=array("duplicate_group"), store=store,
        editorial=read_editorial(path),
        embeddings=optional(_semantic_name(config, "embeddings")),
        projection=optional(_semantic_name(config, "projection")),
        encoded=optional(_semantic_name(config, "encoded")), dense=_dense(optional(_semantic_name(config, "dense")), config))
    check_index(data, _arrays(data), path, manifest.get("counts"))
    if not isinstance(data.rows, Rows):  # checked as they are stored
        data.rows = Rows.of(sp.csr_matrix((data.rows.data, data.rows.indices, data.rows.indptr),
                                          shape=(len(data.store), len(data.vocabulary)))).read_only()
    return data


def _rows(array, version: int) -> Rows | Postings:
    """The rows as stored: a version 2 or 3 index's as CSR with int32 term ids (load_index converts
    them once they are checked)."""
    if version < 4:
        return Postings(array("rows_indptr"), array("rows_indices"), array("rows_data"))
    return Rows(array("rows_indptr"), array("rows_low"), array("rows_high"), array("rows_high_ptr"),
                array("rows_data"))


def read_editorial(path: Path) -> dict:
    """The pins and blocks kept in an index directory ({} if it has none)."""
    file = Path(path) / EDITORIAL
    if not file.exists():
        return {}
    try:
        rules = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"{file}: not valid JSON: {exc}") from None
    valid = isinstance(rules, dict) and all(
        isinstance(r, dict) and set(r) <= {"pins", "blocks"} and all(isinstance(v, list) for v in r.values())
        for r in rules.values())
    if not valid:
        raise IndexFormatError(f"{file}: expected {{article id: {{\"pins\": [...], \"blocks\": [...]}}}}")
    return rules


def save_editorial(rules: dict, path: Path) -> None:
    """Replace the pins and blocks of an existing index directory (its current generation), atomically."""
    path = current(path)
    read_manifest(path)
    replace_atomically(path / EDITORIAL, json.dumps(rules, ensure_ascii=False))


def read_manifest(path: Path) -> dict:
    """The validated manifest of an index directory."""
    file = Path(path) / MANIFEST
    if not Path(path).is_dir():
        raise IndexFormatError(f"{path}: not an index directory (no such directory)")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexFormatError(f"{file}: missing; {path} is not a recsys index directory") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"{file}: not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise IndexFormatError(f"{file}: not a recsys index manifest (format is not {FORMAT_NAME!r})")
    if manifest.get("version") not in READABLE_VERSIONS:
        raise IndexFormatError(f"{file}: unsupported index format version {manifest.get('version')!r}; "
                               f"this recsys reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    if not isinstance(manifest.get("files"), dict):
        raise IndexFormatError(f"{file}: has no file list")
    return manifest


def _arrays(data) -> dict[str, np.ndarray]:
    arrays = {"df": data.df, "idf": data.idf, "term_max": data.term_max, "self_scores": data.self_scores,
              "neighbor_rows": data.neighbor_rows, "neighbor_sims": data.neighbor_sims,
              "duplicate_group": data.duplicate_group}
    semantic = {"embeddings": data.embeddings, "projection": data.projection, "encoded": data.encoded,
                "dense": None if data.dense is None else data.dense.to_bytes()}
    arrays.update({_semantic_name(data.config, part): array for part, array in semantic.items() if array is not None})
    if data.query_tf is not None:
        arrays["query_tf"] = data.query_tf
    rows = data.rows
    if isinstance(rows, Rows):
        arrays.update({"rows_indptr": rows.indptr, "rows_low": rows.low, "rows_high": rows.high,
                       "rows_high_ptr": rows.high_ptr, "rows_data": rows.data})
    else:  # as an older version stored them, being checked (load_index)
        arrays.update({"rows_indptr": rows.indptr, "rows_indices": rows.indices, "rows_data": rows.data})
    columns = data.columns
    arrays.update({"columns_indptr": columns.indptr, "columns_indices": columns.indices, "columns_data": columns.data})
    arrays.update({f"articles_{name}": getattr(data.store, name) for name in ArticleStore.ARRAYS})
    return arrays


def _semantic_name(config: IndexConfig, part: str) -> str:
    """The array of a part of the semantic channel: static_embeddings, lsa_projection, minilm_dense, ...
    (LSA's projection keeps the name it had before there were other models: lsa_components)."""
    if config.semantic_model == "lsa" and part == "projection":
        return "lsa_components"
    return f"{config.semantic_model}_{part}"


def _dense(data: np.ndarray | None, config: IndexConfig) -> DenseIndex | None:
    """The nearest-neighbour index stored as ``data`` (None: none stored, as in older indexes)."""
    if data is None:
        return None
    try:
        return DenseIndex.from_bytes(data, config.dense_probes)
    except RuntimeError as exc:
        raise IndexFormatError(f"{config.semantic_model}_dense.npy: not a nearest-neighbour index: {exc}") from None


def _json_parts(data) -> dict:
    return {"vocabulary": data.vocabulary,
            **{f"articles_{name}": getattr(data.store, name) for name in ArticleStore.NAMES}}


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()





def _swap_into_place(tmp: Path, path: Path) -> None:
    """Rename the finished (and synced) ``tmp`` directory to ``path``; an existing index there is
    replaced. Between the two renames there is a moment with no directory at ``path``: a crash
    right then leaves the complete new index in ``tmp`` (a hidden sibling) to rename by hand."""
    sync_directory(tmp)
    if not path.exists():
        os.rename(tmp, path)
        sync_directory(path.parent)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    os.rmdir(old)
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    sync_directory(path.parent)
    shutil.rmtree(old, ignore_errors=True)
