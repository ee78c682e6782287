"""The Gradio app (`app`), its section viewer (`viewer`) and static assets.
"""
