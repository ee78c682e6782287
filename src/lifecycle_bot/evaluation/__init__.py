"""Offline measurement of the core (no click here): the eval harness and gate, pure metric functions,
the retrieval baselines report, and fitting of the confidence and citation-support models.
"""
