"""Votes and declined questions: the SQLite feedback store shared by the web app and the Slack bot (with its
schema migrations), the one answer -> feedback row (`Feedback.from_answer`), and the export of review rows as
eval candidates.
"""
