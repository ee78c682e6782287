"""Ticket triage: failure class and phase from the ticket text (`core.signatures`), grounded in the KB through
`Bot`'s public API only (`Bot.search`, `Bot.chunks`), with the playbook of next steps and batch I/O.
"""
