"""Articles: the Article type and its validation (article), and the JSONL/CSV readers (readers)."""
