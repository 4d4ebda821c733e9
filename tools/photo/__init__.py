"""Photo-import benchmarks: quality and time on photos and generated faces, and two photos mixed."""
