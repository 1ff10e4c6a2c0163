"""Passages for a question: sentence embeddings (questions and passages), dense and keyword search over one
store snapshot, fused by reciprocal rank."""
