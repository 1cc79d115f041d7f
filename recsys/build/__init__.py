"""Building an index: the pipeline (read, count, weigh, link), the neighbour lists, the semantic
channel, and the same pipeline on Dask."""
