"""Votes and declined questions: the SQLite feedback store shared by the web app and the Slack bot, and
the export of review rows as eval candidates.
"""
