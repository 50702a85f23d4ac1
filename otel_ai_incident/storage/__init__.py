"""Where the stores keep their data, chosen by URL.

`sqlite:///path.db` is the embedded default (one host, no server); `postgresql://user@host:port/db` is the
engine a fleet shares. Each store (prompt log, containment state, incidents and the receiver's inbox) has an
interface module, an `open_*(url)` factory and one module per backend; this package holds what the backends
of every store share: URL parsing, connections, migrations and the errors commands report.
"""

from otel_ai_incident.storage.errors import SchemaTooNewError, StoreError, StoreUnavailableError
from otel_ai_incident.storage.urls import POSTGRES_SCHEMES, SQLITE_SCHEME, is_postgres_url, is_sqlite_url

__all__ = [
    "POSTGRES_SCHEMES",
    "SQLITE_SCHEME",
    "SchemaTooNewError",
    "StoreError",
    "StoreUnavailableError",
    "is_postgres_url",
    "is_sqlite_url",
]
