"""The core: everything that turns a KB directory into cited answers (types, settings, text, signatures,
ingest, index, retrieve, answer, conversation, the Bot). It imports nothing outside `lifecycle_bot.core`;
every face talks to it through `Bot` and the types in `core.types`.
"""
