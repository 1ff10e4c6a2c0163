"""Answers from passages: the extractive reader (its weights and span decoding), how many passages it
reads (adaptive reading), the evidence check on names and numbers, and the Answer built from the spans."""
