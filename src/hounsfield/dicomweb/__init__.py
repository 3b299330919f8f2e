"""DICOMweb (PS3.18): QIDO-RS, WADO-RS, WADO-URI, STOW-RS and delete over the archive core.

``router.mount(app, settings, archive)`` adds the routes under ``dicomweb.base_path``.
The handlers are thin (DESIGN: a protocol handler turns a request into a call of the core):
``qido`` searches, ``wado`` retrieves instances, metadata, frames and bulk data,
``rendered`` renders images and thumbnails, ``wado_uri`` serves PS3.18 chapter 9,
``stow`` stores, and ``multipart``/``accept`` hold the HTTP details they share.
"""
