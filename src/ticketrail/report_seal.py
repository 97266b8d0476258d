"""A seal on the grading report: each line carries a MAC chained to the one before, under a key only the runner
and the plugin hold, and the last line counts them. A report rewritten in place, cut short or padded is refused."""

from __future__ import annotations

import hashlib
import hmac
import json

KEY_VARIABLE = "TICKETRAIL_REPORT_KEY"


class ReportSeal:
    def __init__(self, key: str) -> None:
        self._key = key.encode()
        self._last = b""

    def _mac(self, entry: dict) -> str:
        body = json.dumps(entry, sort_keys=True).encode()
        return hmac.new(self._key, self._last + body, hashlib.sha256).hexdigest()

    def sign(self, entry: dict) -> dict:
        mac = self._mac(entry)
        self._last = mac.encode()
        return {**entry, "mac": mac}

    def check(self, lines: list[dict], finished: bool) -> str | None:
        """None when `lines` are the plugin's, whole; else what is wrong. `finished`: the run ended by itself, so
        the closing line must be there."""
        for number, line in enumerate(lines, 1):
            entry = {key: value for key, value in line.items() if key != "mac"}
            if not hmac.compare_digest(str(line.get("mac", "")), self._mac(entry)):
                return f"line {number} of the report is not the one the graders wrote"
            self._last = line["mac"].encode()
            if entry.get("end"):
                if entry.get("lines") != number - 1 or number != len(lines):
                    return "the report's lines do not add up to what the graders wrote"
                return None
        return "the report ends before the graders' closing line" if finished else None
