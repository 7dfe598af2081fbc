"""The one place an `openai.OpenAI` client is made, for the embeddings and chat backends alike."""

from __future__ import annotations

import os


def openai_client(settings, who: str, error: type[Exception]):
    """A client for `settings` (base_url, api_key_env, timeout, max_retries). The key is read
    from the environment variable the settings name; a local server (base_url) may need none."""
    # lazy: openai takes 0.4 s to import
    from openai import OpenAI

    key = os.environ.get(settings.api_key_env)
    if not key and not settings.base_url:
        raise error(f"{who} needs an API key in ${settings.api_key_env} "
                    "(or a base_url of a local server that needs none)")
    return OpenAI(base_url=settings.base_url, api_key=key or "unused", timeout=settings.timeout,
                  max_retries=settings.max_retries)
