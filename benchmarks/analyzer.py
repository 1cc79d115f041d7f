"""Analyzer throughput: tokens per second of recsys's analyzer next to scikit-learn's default one.

    python -m benchmarks.analyzer [--n 5000]

The build tokenises every field of every article once; at 1M articles of ~500 tokens that is
~500M tokens, so the analyzer's speed bounds the build's reading phase.
"""

from __future__ import annotations

import argparse

from ._measure import print_table, timer


def main(argv: list[str] | None = None) -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    from benchmarks.synth import generate
    from recsys.analysis.analyzer import Analyzer, AnalyzerConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="articles of the synthetic corpus to analyse")
    args = parser.parse_args(argv)
    texts = [article["body"] for article in generate(args.n)]
    n_tokens = sum(len(t.split()) for t in texts)
    sklearn_default = CountVectorizer().build_analyzer()
    stemming = Analyzer(AnalyzerConfig(stemmer="english"))
    candidates = {
        "sklearn CountVectorizer analyzer (no stop words, no stemming)": sklearn_default,
        "recsys Analyzer, stop words, no stemming": Analyzer(AnalyzerConfig(stemmer=None)),
        "recsys Analyzer, stop words + Snowball stemming (token list)": stemming,
        "recsys Analyzer.term_counts, stop words + stemming (what a query uses)": stemming.term_counts,
        "recsys raw tokens + Counter (what the build does per article)": None,
    }
    rows = []
    for name, analyze in candidates.items():
        if analyze is None:
            from collections import Counter

            analyze = lambda text: Counter(stemming.raw_tokens(text))  # noqa: E731
        analyze(texts[0])
        with timer() as elapsed:
            for text in texts:
                analyze(text)
        rows.append({"analyzer": name, "mtok": n_tokens / elapsed() / 1e6,
                     "s1m": elapsed() / len(texts) * 1e6 / 60})
    print(f"{args.n} synthetic articles, {n_tokens:,} tokens, one core")
    print_table(rows, [("analyzer", "analyzer", ""), ("mtok", "M tokens/s", ".2f"),
                       ("s1m", "minutes for 1M articles (one core)", ".1f")])


if __name__ == "__main__":
    main()
