"""The instance folder of the embedded default: the generated secret key lives here."""
import os
import secrets


def instance_secret_key(path):
    """Read the secret key at ``path``, creating it (mode 0600) on first run."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as handle:
            key = handle.read().strip()
        if len(key) < 32:
            raise RuntimeError(f"the secret key in {path} is too short; delete the file to "
                               "generate a new one (this logs everyone out)")
        return key
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
