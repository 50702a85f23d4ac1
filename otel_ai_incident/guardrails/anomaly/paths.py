"""Whether a file path names a place where secrets are kept: knowledge, not something learned per tool.

A file tool reads many paths, each new, so a new path is no news; but a handful of names hold credentials
wherever they are found, and reading one is how an agent is made to leak them. The lists follow the
secret-file rules published by secret scanners (gitleaks, trufflehog, GitHub secret scanning's excluded
and sensitive paths): dotenv files, SSH and TLS private keys, cloud and package-registry credentials,
kubeconfigs, framework master keys, shell histories, the system's password hashes.
"""

from __future__ import annotations

# File names that hold credentials wherever they are.
_NAMES = frozenset(
    (
        ".env", ".envrc", ".netrc", "_netrc", ".git-credentials", ".npmrc", ".pypirc", ".pgpass", ".my.cnf",
        ".dockercfg", ".s3cfg", ".boto", ".vault-token", ".htpasswd", ".bash_history", ".zsh_history",
        ".psql_history", ".mysql_history", ".python_history", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519",
        "id_ecdsa_sk", "id_ed25519_sk", "master.key", "credentials", "credentials.json",
        "credentials.yml", "credentials.yml.enc", "credentials.csv", "client_secret.json", "kubeconfig",
        "secrets.yml", "secrets.yaml", "secrets.json", "secrets.toml", "terraform.tfstate", "terraform.tfvars",
        "master.passwd", "keystore.jks", "service-account.json",
        "application_default_credentials.json", "accesstokens.json", "access_tokens.db", "credentials.db",
        "service_account.json", "wp-config.php",
    )
)  # fmt: skip
# Extensions of private keys, keystores and password databases.
_EXTENSIONS = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".kdbx", ".tfstate", ".tfvars", ".ovpn")
# SSH private keys under another name (`id_rsa_deploy`); their `.pub` halves are public.
_KEY_PREFIXES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
# Directories whose files are all credentials (a file anywhere under them).
_DIRECTORIES = frozenset((".ssh", ".aws", ".gnupg", ".kube", ".azure", ".docker", "gcloud", "secrets"))
# Full paths that hold secrets of the process or the system, or list its accounts (the first file read
# through a path traversal).
_SYSTEM = ("/proc/self/environ", "/proc/1/environ", "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/passwd")
# Dotenv variants that are committed on purpose and hold no secret.
_TEMPLATES = ("example", "sample", "template", "dist", "defaults")


def secret_path(text: str) -> bool:
    """Whether `text`, a path or file name (any case, `/` or `\\` separated), names a secret file."""
    path = text.strip("'\"").lower().replace("\\", "/")
    if path.startswith(_SYSTEM):
        return True
    directory, _, name = path.rpartition("/")
    if name in _NAMES or name.endswith(_EXTENSIONS):
        return True
    if name.startswith(_KEY_PREFIXES) and not name.endswith(".pub"):
        return True
    if name.startswith(".env.") and not name.endswith(_TEMPLATES):
        return True
    return bool(directory) and not _DIRECTORIES.isdisjoint(directory.split("/"))
