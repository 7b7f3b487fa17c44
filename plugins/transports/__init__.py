"""Transports: documents out (folder, SFTP, SMTP)."""
