"""Recordings of live streams (issue 14): what was recorded, where its files are, retention and quotas.

The media plane writes the segment files (``sfu/recorder.py``); this package keeps their metadata in MongoDB
(``recordings`` collection), joins the finished segments into one seekable file without transcoding
(``remux.py``), stores files on local disk or an S3-compatible store (``storage.py``), and enforces the retention
and quota settings (``service.py``).
"""
