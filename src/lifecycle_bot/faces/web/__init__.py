"""The Gradio app (`app`), its section viewer (`viewer`) and its static assets (`static/`)."""


def serve(*args, **kwargs):
    """Start the web app (imports Gradio only when called)."""
    from lifecycle_bot.faces.web.app import serve as run

    return run(*args, **kwargs)
