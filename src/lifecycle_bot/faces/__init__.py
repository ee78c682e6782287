"""The thin faces over the core: `cli` (click), `web` (Gradio) and `slack` (Bolt). A face imports the
core, `render`, `triage`, `feedback` and `evaluation`, never another face.
"""
