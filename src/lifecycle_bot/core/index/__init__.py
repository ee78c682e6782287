"""The vector index: Chroma collections behind a one-row manifest (`store`) and the embedding models,
sentence-transformers for indexing and the ONNX export for answering (`embed`).
"""
