"""Answer composition: extractive passages (`extract`), generated answers checked against the passages
(`generate`), and the confidence model that decides when to decline (`confidence`, with its read-only
packaged defaults `calibration.json` and `support.json`).
"""
