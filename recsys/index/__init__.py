"""The built index as data: its arrays (data), article columns (columns), compiled kernels over them
(kernels), and the directory format (persist, checks, generations)."""
