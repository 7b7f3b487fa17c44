"""SFTP transport (paramiko): strict host keys, atomic uploads, idempotent after a crash."""
