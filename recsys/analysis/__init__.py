"""Text to terms: the analyzer (tokenise, fold, stop words, stem, languages), term counting, and the
semantic model's embeddings."""
