"""tunewise: closed LLM API over your documents, fine-tune an open model, or train your own?"""

from tunewise.api import Workspace
from tunewise.config import Settings, load_settings
from tunewise.types import Chunk, Document, Hit

__version__ = "0.1.0"
__all__ = ["Workspace", "Settings", "load_settings", "Document", "Chunk", "Hit", "__version__"]
