"""The synchronous Prefect client warroom's own calls use (desks, run starts)."""

from __future__ import annotations

import functools
import ssl

import certifi
from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.settings import PREFECT_API_SSL_CERT_FILE, PREFECT_API_TLS_INSECURE_SKIP_VERIFY


@functools.cache
def _tls_context(cert_file: str, insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cert_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def prefect_client() -> SyncPrefectClient:
    """A synchronous Prefect client whose TLS context is made once per process, as Prefect would make it
    (its CA file, or none verified when told so). Prefect's own ``get_client`` loads the CA file each
    time (tens of ms of CPU), and the dispatcher asks for the desks' answers every round and starts a
    lifecycle run per declared incident."""
    context = _tls_context(str(PREFECT_API_SSL_CERT_FILE.value() or certifi.where()),
                           bool(PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value()))
    return get_client(sync_client=True, httpx_settings={"verify": context})
