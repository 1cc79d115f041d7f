"""Expected answers worked out apart from the code under test: every pair's similarity by numpy brute
force over an index's stored weight matrix (and embeddings), the exact top k with ties in index
order, and the sample corpus's stories (an update, "a-012-u", is one story with "a-012")."""

import numpy as np
import scipy.sparse as sp


def stored_cosines(index) -> np.ndarray:
    """The cosine of every pair of rows of a TF-IDF index's stored weight matrix, in float64. With
    every term of an article a query term (min_term_freq and min_doc_freq 1), this is the similarity
    related() lists."""
    config, data = index.config, index._view.data
    assert config.method == "tfidf" and config.min_term_freq <= 1 and config.min_doc_freq <= 1
    n_rows = len(data.rows.indptr) - 1
    matrix = sp.csr_matrix((np.asarray(data.rows.data, dtype=np.float64), data.rows.term_ids(),
                            np.asarray(data.rows.indptr)), shape=(n_rows, len(data.vocabulary)))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    matrix = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ matrix
    return (matrix @ matrix.T).toarray()


def similarities(index) -> np.ndarray:
    """Every pair's similarity as the index scores it: the stored cosine, blended with the
    embeddings' cosine by semantic_weight when the semantic channel is on."""
    weight = index.config.semantic_weight if index._view.data.embeddings is not None else 0.0
    lexical = stored_cosines(index)
    return lexical if weight == 0 else (1 - weight) * lexical + weight * embedding_cosines(index)


def embedding_cosines(index) -> np.ndarray:
    """The cosine of every pair of the index's stored embeddings, negative ones counted as 0."""
    embeddings = np.asarray(index._view.data.embeddings, dtype=np.float64)
    return np.maximum(embeddings @ embeddings.T, 0.0)


def story(article_id: str) -> str:
    """The story of a sample article: an update ("a-012-u") tells the story of its original."""
    return article_id.removesuffix("-u")


def expected_rows(similarity: np.ndarray, query_row: int, k: int, *, ids=None, allowed=None) -> list[int]:
    """The rows of the k articles most similar to the one at ``query_row`` (``similarity``: its row of
    the brute-force matrix): positive similarity, not the article itself, ``allowed(row)`` if given,
    ties in index order. With ``ids``, one article per story (the best) and none of the article's own."""
    order = sorted((j for j in range(len(similarity))
                    if j != query_row and similarity[j] > 0 and (allowed is None or allowed(j))),
                   key=lambda j: (-similarity[j], j))
    if ids is None:
        return order[:k]
    seen, best_of_story = {story(ids[query_row])}, []
    for j in order:
        if story(ids[j]) not in seen:
            seen.add(story(ids[j]))
            best_of_story.append(j)
    return best_of_story[:k]


def assert_ranking(got: list[int], expected: list[int], similarity: np.ndarray, tol: float = 1e-6) -> None:
    """``got`` (rows, best first) is ``expected``, position by position. Only two rows whose
    brute-force similarities differ, by less than ``tol``, may trade places: float32 sums may order
    those either way. Rows of equal similarity must keep index order."""
    assert len(got) == len(expected), (got, expected)
    for position, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            close = similarity[g] != similarity[e] and abs(similarity[g] - similarity[e]) < tol
            assert close, f"position {position}: row {g} listed, row {e} expected; got {got}, expected {expected}"
