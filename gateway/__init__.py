"""The provincial data-exchange gateway: an SFTP server for county accounts and the
county-side resumable upload client.

It imports nothing of ``ncms``: it knows accounts and directories, and meets the core
only at the spool (``<county>/inbox`` and ``<county>/outbox``).
"""
__version__ = "0.1.0"
