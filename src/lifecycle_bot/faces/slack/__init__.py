"""The Slack bot: Bolt handlers, thread history, Block Kit replies and votes.
"""
