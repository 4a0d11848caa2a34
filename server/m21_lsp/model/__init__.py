"""The chat-completions client: the request lifecycle and retries (:mod:`.client`), how
HTTP statuses, ``base_resp`` and stream faults become typed errors (:mod:`.replies`),
server-sent events (:mod:`.sse`) and reasoning removed from replies (:mod:`.reasoning`).
"""
