"""Presentation shared by every face, pure functions only: the one HTML sanitiser and Markdown->HTML
(`html`), Excalidraw->SVG (`svg`), the one Markdown->Slack mrkdwn converter (`slack`) and the triage
renderer (`triage`).
"""
