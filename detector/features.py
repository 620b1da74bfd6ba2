"""Per-event features: everything the detector keeps of one request, without its text.

``extract(event)`` turns an :class:`~detector.record.Event` into an :class:`EventFeatures`: 64-bit
fingerprints of the normalised prompt and of its *skeleton* (slots masked), a SimHash signature of
the skeleton for near-duplicate matching across keys, a bitmask of extraction signals, and the
numbers the windows aggregate. Prompt text is dropped here; nothing downstream sees it.

Cost: linear in the analysed text, which is capped at :data:`detector.text.MAX_ANALYSED_CHARS`
per field, so a 1 MB prompt costs the same as a 16 KB one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class EventFeatures:
    """What one request contributes to the windows. No prompt text, no secrets."""

    ts_ms: int
    api_key_id: str
    account_id: str | None
    account_created_ms: int | None
    prompt_fp: int          # xxh3-64 of the normalised last user turn (+ system prompt)
    skeleton_fp: int        # xxh3-64 of the skeleton of that text
    skeleton_sig: int       # 64-bit SimHash of the skeleton's tokens (near-duplicates)
    system_fp: int          # xxh3-64 of the normalised system prompt, 0 if none
    flags: int              # detector.signals.Signal bitmask
    script: int             # dominant writing system of the user text (detector.text.Script)
    prompt_chars: int       # characters of user text (before the analysis cap)
    input_tokens: int
    output_tokens: int
    depth: int              # number of messages in the request
    model: str              # "" when absent
    ip_prefix: str          # "/24" for IPv4, "/48" for IPv6, "" when absent
    user_agent: str         # SDK family and major version, "" when absent
    end_user_fp: int        # xxh3-64 of end_user_id, 0 when absent
    status: int             # HTTP status, 0 when absent
