"""Caption thumbnails: a caption's image from the image root, shown beside its text.

The path comes from `curation.thumbnails.find_caption_image` (ImageNet layouts under the
image root setting); the file is read and decoded with the size limits of
`extension.images.files`, shrunk once and cached by path and modification time.
"""

from __future__ import annotations

import io
from pathlib import Path

import streamlit as st

from curation.thumbnails import find_caption_image
from extension.images.files import ImageFileError, open_image, read_image_bytes
from ui import plain

THUMBNAIL_PX = 320


@st.cache_data(show_spinner=False, max_entries=512)
def _load_thumbnail(path: str, mtime_ns: int, max_px: int) -> bytes | None:
    """PNG bytes of the image shrunk to at most max_px on its long side (None if unreadable)."""
    try:
        image = open_image(read_image_bytes(Path(path)).data, where=path)
    except ImageFileError:
        return None
    image.thumbnail((max_px, max_px))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render_caption_image(
    root: Path | None, filename: str, wnid: str, *, width: int = 240, max_px: int = THUMBNAIL_PX
) -> bool:
    """Show the caption's image (shrunk to at most `max_px`) when the image root has it.
    Returns True when shown."""
    path = find_caption_image(root, filename, wnid)
    if path is None:
        plain.caption(
            "No image folder set (Review relevance, Images tab)."
            if root is None
            else f"No image for {filename} under the image folder."
        )
        return False
    data = _load_thumbnail(str(path), path.stat().st_mtime_ns, max_px)
    if data is None:
        plain.caption(f"{filename}: the file is not a readable image.")
        return False
    st.image(data, width=width)
    return True
