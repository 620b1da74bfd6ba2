"""Builders shared by the unit tests."""

from __future__ import annotations

from detector.features import EventFeatures


def feat(ts_ms: int, key: str = "k1", *, prompt: int = 1, skeleton: int = 2, flags: int = 0, out_tok: int = 100,
         in_tok: int = 20, ip: str = "10.0.0.0/24", ua: str = "sdk/1", model: str = "m1", account: str | None = "a1",
         created: int | None = None, end_user: int = 0, request: int = 0, head: int = 0,
         bias: int = 0) -> EventFeatures:
    """An EventFeatures with sensible defaults."""
    return EventFeatures(ts_ms=ts_ms, api_key_id=key, account_id=account, account_created_ms=created,
                         prompt_fp=prompt, skeleton_fp=skeleton, skeleton_sig=skeleton, system_fp=0, flags=flags,
                         script=0, prompt_chars=80, input_tokens=in_tok, output_tokens=out_tok, depth=1, model=model,
                         ip_prefix=ip, user_agent=ua, end_user_fp=end_user, status=200, bias_fp=bias,
                         head_fp=head, request_fp=request)
