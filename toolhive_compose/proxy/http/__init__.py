"""The proxy's HTTP/1.1 plumbing over asyncio: :mod:`.wire` (messages and bodies),
:mod:`.server` (one keep-alive loop per client) and :mod:`.guard` (DNS-rebinding protection)."""
