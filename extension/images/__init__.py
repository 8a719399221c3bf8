"""Images: files and limits, the one feature store, registered image sets, uploads.

Job entry point: `sets.run_embed_image_set`.
"""
