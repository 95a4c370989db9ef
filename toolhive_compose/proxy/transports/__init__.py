"""What the proxy serves: stdio servers bridged to MCP over HTTP (:mod:`.stdio` over
:mod:`.bridge`, JSON-RPC ids kept apart by :mod:`.jsonrpc`), and everything else reverse
proxied (:mod:`.reverse`)."""
